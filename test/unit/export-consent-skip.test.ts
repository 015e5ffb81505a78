import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { principalFromClaims } from '../../server/src/auth/principal.js';
import type { ConsentGate } from '../../server/src/consent/consent-gate.js';
import type { FhirContext } from '../../server/src/fhir/fhir-context.js';
import type { ExportSpec } from '../../server/src/ops/export/export-parameters.js';
import { runExport } from '../../server/src/ops/export/run-export-job.js';
import type { ResourceStore, SearchQuery } from '../../server/src/store/resource-store.js';
import { PATIENT, carolResearchConsent } from '../../fixtures/consent-scenarios/scenarios.js';
import { BASE } from '../http/app-fixture.js';
import { RESEARCH, clinician, startConsentFixture, type ConsentFixture } from '../http/consent-fixture.js';
import { tempDirs } from '../helpers/temp-dirs.js';
import type { TokenOptions } from '../helpers/test-auth.js';

/**
 * A Patient- or Group-level export does not query the patients whose Consents cannot let the
 * requester see anything (ConsentGate.patientsWithVisibleData, evaluate-consent.ts `mayReveal`),
 * and what it writes is exactly what it writes when it queries every patient. On the consent
 * scenarios (fixtures/consent-scenarios): for research, only Alice and Erin hold an active
 * research opt-in; Carol's is revoked; Bruno and Dan never opted in.
 */

const SPEC: ExportSpec = { level: 'patient', types: ['Patient', 'Observation', 'DiagnosticReport', 'Condition', 'Encounter'], typeFilters: [], deidentify: false, lenient: false };
const ALL = Object.values(PATIENT).sort();

const principalOf = (o: TokenOptions) =>
  principalFromClaims({ sub: o.sub, client_id: o.client_id, scope: o.scope, fhirUser: o.fhirUser, purpose_of_use: o.purpose_of_use, roles: o.roles });

/** The context's store, recording every search's filter as JSON. */
function recording(ctx: FhirContext): { ctx: FhirContext; filters: string[] } {
  const filters: string[] = [];
  const inner = ctx.store;
  const store = new Proxy(inner, {
    get(target, key, receiver) {
      if (key === 'search') {
        return (q: SearchQuery) => {
          filters.push(JSON.stringify(q.filter));
          return target.search(q);
        };
      }
      const v = Reflect.get(target, key, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as ResourceStore;
  return { ctx: { ...ctx, store }, filters };
}

/** Every exported line, per file, sorted (a file's order follows the batches). */
function contents(dir: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.ndjson')).sort()) {
    out[f] = readFileSync(join(dir, f), 'utf8').trim().split('\n').sort();
  }
  return out;
}

describe('exports skip the patients whose Consents reveal nothing to the requester', () => {
  let f: ConsentFixture;
  const newDir = tempDirs('export-consent-skip');
  before(async () => {
    f = await startConsentFixture();
  });
  after(async () => {
    await f?.t.close();
  });

  const gateOf = (o: TokenOptions): ConsentGate => f.t.deps.service.contextForPrincipal(principalOf(o), BASE, ['s']).consent as ConsentGate;

  it('research: only patients holding an active research opt-in; treatment (opt-out): everyone', async () => {
    assert.deepEqual([...(await gateOf(RESEARCH).patientsWithVisibleData(ALL))].sort(), [PATIENT.alice, PATIENT.erin].sort());
    assert.deepEqual([...(await gateOf(clinician('pract-2')).patientsWithVisibleData(ALL))].sort(), ALL);
  });

  it('follows a Consent change on the very next call: a renewed opt-in counts, a revoked one does not', async () => {
    await f.put({ ...carolResearchConsent('active') });
    try {
      assert.ok((await gateOf(RESEARCH).patientsWithVisibleData(ALL)).includes(PATIENT.carol), 'renewed');
    } finally {
      await f.put({ ...carolResearchConsent('inactive') });
    }
    assert.ok(!(await gateOf(RESEARCH).patientsWithVisibleData(ALL)).includes(PATIENT.carol), 'revoked again');
  });

  it('never queries a skipped patient, and writes exactly what querying every patient writes', async () => {
    const principal = principalOf(RESEARCH);
    const run = async (ctx: FhirContext): Promise<string> => {
      const dir = newDir();
      await runExport({ ctx, baseStore: f.t.deps.store, spec: SPEC, baseUrl: BASE, dir, patientBatch: 2, pageSize: 3, now: new Date().toISOString(), progress: () => {}, stopped: () => false });
      return dir;
    };
    const skipping = recording(f.t.deps.service.contextForPrincipal(principal, BASE, ['s']));
    const skipped = await run(skipping.ctx);

    // The same job with a gate that lets every patient through to the query.
    const plain = f.t.deps.service.contextForPrincipal(principal, BASE, ['s']);
    const gate = plain.consent as ConsentGate;
    const everyone = Object.assign(Object.create(Object.getPrototypeOf(gate) as object) as ConsentGate, gate, { patientsWithVisibleData: async (ps: readonly string[]) => ps });
    const unskipping = recording({ ...plain, consent: everyone });
    const full = await run(unskipping.ctx);

    for (const p of [PATIENT.bruno, PATIENT.carol, PATIENT.dan]) {
      assert.ok(!skipping.filters.some((q) => q.includes(p)), `${p} is never queried`);
      assert.ok(unskipping.filters.some((q) => q.includes(p)), `${p} is queried when nobody is skipped (so the check above can fail)`);
    }
    const written = contents(skipped);
    assert.ok((written['Observation.ndjson'] ?? []).length > 0, 'something was exported');
    assert.deepEqual(written, contents(full));
  });
});
