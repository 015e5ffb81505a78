import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AccessPolicy } from '../../server/src/auth/access-policy.js';
import { authorizeInteraction } from '../../server/src/auth/authorize-interaction.js';
import { principalFromClaims } from '../../server/src/auth/principal.js';
import { authorizeBreakGlassReport } from '../../server/src/fhir/interactions/break-glass-report.js';
import { authorizeConsentDecision } from '../../server/src/fhir/interactions/consent-decision.js';
import { authorizeFullAudit } from '../../server/src/fhir/interactions/full-audit-operation.js';
import { FhirError } from '../../server/src/fhir/outcomes.js';
import { authorizeEvidence } from '../../server/src/ops/evidence/claim-evidence.js';
import { authorizeExport } from '../../server/src/ops/export/export-routes.js';

/**
 * A token without a purpose of use is refused the same way by every route: the general
 * interaction check and the routes that authorize themselves ($export, $full-audit, and the
 * operation hooks of $evidence, $break-glass-report and $consent-decision).
 */
describe('purpose of use is required', () => {
  // Otherwise allowed everywhere: a backend with system scopes and role admin. Each check refuses
  // on the purpose before it asks anything of the policy but its principal.
  const principal = principalFromClaims({ sub: 'steward', client_id: 'steward', scope: 'system/*.cruds', roles: ['admin'] });
  const policy = { principal } as AccessPolicy;

  it('every check gives the same 403 and text', () => {
    const refusals = [
      () => authorizeInteraction(policy, { interaction: 'read', type: 'Patient' }),
      () => authorizeExport(policy),
      () => authorizeFullAudit(policy),
      () => authorizeEvidence(policy, { type: 'Claim', id: 'c1' }),
      () => authorizeBreakGlassReport(policy, { type: 'AuditEvent' }),
      () => authorizeConsentDecision(policy, { type: 'Patient', id: 'p1' }),
    ].map((check) => {
      try {
        check();
      } catch (err) {
        assert.ok(err instanceof FhirError);
        return `${err.code}: ${err.message}`;
      }
      return 'allowed';
    });
    assert.equal(new Set(refusals).size, 1, refusals.join('\n'));
    assert.match(refusals[0] as string, /^forbidden: The access token carries no purpose of use/);
  });
});
