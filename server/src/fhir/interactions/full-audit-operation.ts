import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import type { AccessPolicy } from '../../auth/access-policy.js';
import { requirePurposeOfUse } from '../../auth/authorize-interaction.js';
import type { Permission } from '../../auth/scopes.js';
import { runFullAudit, type AuditFinding, type FullAuditDeps, type FullAuditReport } from '../../ledger/full-audit.js';
import type { FhirContext } from '../fhir-context.js';
import type { FhirResponse } from '../fhir-request.js';
import { FhirError } from '../outcomes.js';

/**
 * `POST [base]/$full-audit` (role admin): the full audit of `npm run audit-log`
 * (ledger/full-audit.ts) run by the server on its live store and log, for the console's steward
 * view. It needs every stored version, which no request's scoped store reaches, so the
 * composition root hands the context a `fullAudit` that closes over the unscoped store
 * (`liveFullAudit`). Who may call it is decided by the route's hook (authorizeFullAudit below),
 * which FhirService runs before any handler, as for every operation with its own authorization;
 * the operation only shapes the answer.
 *
 * Out (Parameters): `ok`, `origin`, `logSize`, `anchoredSize`, `anchoredCheckpoints`,
 * `checkedVersions`, `checkedLeaves`, `writtenDuringAudit`, and one `finding` per finding
 * (parts `kind`, `key`, `leafIndex`, `size`, `detail`).
 */
export async function fullAuditOperation(ctx: FhirContext): Promise<FhirResponse> {
  const audit = ctx.ledger?.fullAudit;
  if (!audit) throw new FhirError('not-supported', 'This server runs without a Merkle log: there is nothing to audit');
  return { status: 200, body: reportParameters(await audit()) };
}

/**
 * The route's authorization: not about a resource type, so no type scope applies; the caller
 * must be a data steward stating a purpose. It reads no resource through its own store.
 */
export function authorizeFullAudit(policy: AccessPolicy): readonly Permission[] {
  const p = policy.principal;
  requirePurposeOfUse(p);
  if (!p.roles.includes('admin')) throw new FhirError('forbidden', '$full-audit is open to principals with role admin (data stewards)');
  return [];
}

/** The report plus how many versions were stored while it ran (their findings are dropped). */
export interface LiveAuditReport extends FullAuditReport {
  writtenDuringAudit: number;
}

/**
 * The full audit over a running server's store and log. Requests keep writing while it runs
 * (its own AuditEvent among them), and a version stored after the log was read shows up as
 * `inserted`; such a version has a leaf beyond the size audited by the time the audit ends, so
 * it is dropped from the findings and counted instead. One audit at a time: callers arriving
 * while one runs share its report.
 */
export function liveFullAudit(deps: FullAuditDeps): () => Promise<LiveAuditReport> {
  let running: Promise<LiveAuditReport> | undefined;
  const run = async (): Promise<LiveAuditReport> => {
    const report = await runFullAudit(deps);
    const log = deps.ledger.log;
    const lateWrite = (f: AuditFinding): boolean => f.kind === 'inserted' && f.key !== undefined && log.leafIndicesOf(f.key).some((i) => i >= report.logSize);
    const findings = report.findings.filter((f) => !lateWrite(f));
    return {
      ...report,
      findings,
      ok: findings.every((f) => f.kind === 'unanchored'),
      writtenDuringAudit: report.findings.length - findings.length,
    };
  };
  return () => {
    running ??= run().finally(() => {
      running = undefined;
    });
    return running;
  };
}

function reportParameters(r: FullAuditReport & { writtenDuringAudit?: number }): Parameters {
  const parameter: ParametersParameter[] = [
    { name: 'ok', valueBoolean: r.ok },
    { name: 'origin', valueString: r.origin },
    { name: 'logSize', valueInteger: r.logSize },
    { name: 'anchoredSize', valueInteger: r.anchoredSize },
    { name: 'anchoredCheckpoints', valueInteger: r.anchoredCheckpoints },
    { name: 'checkedVersions', valueInteger: r.checkedVersions },
    { name: 'checkedLeaves', valueInteger: r.checkedLeaves },
    { name: 'writtenDuringAudit', valueInteger: r.writtenDuringAudit ?? 0 },
  ];
  for (const f of r.findings) {
    parameter.push({
      name: 'finding',
      part: [
        { name: 'kind', valueCode: f.kind },
        ...(f.key !== undefined ? [{ name: 'key', valueString: f.key }] : []),
        ...(f.leafIndex !== undefined ? [{ name: 'leafIndex', valueInteger: f.leafIndex }] : []),
        ...(f.size !== undefined ? [{ name: 'size', valueInteger: f.size }] : []),
        { name: 'detail', valueString: f.detail },
      ],
    });
  }
  return { resourceType: 'Parameters', parameter };
}
