import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Claim, Resource } from '@medplum/fhirtypes';
import { leafRecordOf } from '../../server/src/ledger/leaf-record.js';
import { absentEntry, evidenceMarkOf, evidenceRecord } from '../../server/src/ops/evidence/evidence-entry.js';
import { evidenceTargets } from '../../server/src/ops/evidence/evidence-targets.js';

const BASE = 'https://fhir.example.org/fhir';
const info = (sequence: number, reference?: string) => ({ sequence, category: { coding: [{ code: 'info' }] }, ...(reference !== undefined ? { valueReference: { reference } } : { valueString: 'free text' }) });

describe('evidenceTargets', () => {
  it('one target per distinct reference, in order of first mention, with every sequence naming it', () => {
    const claim = {
      resourceType: 'Claim',
      supportingInfo: [
        info(1, 'Observation/a'),
        info(2, `${BASE}/Observation/a`),
        info(3, 'Observation/a/_history/2'),
        info(4),
        info(5, '#contained'),
        info(6, 'https://elsewhere.example.org/fhir/Observation/a'),
        info(7, 'ImagingStudy/img-1'),
      ],
    } as unknown as Claim;
    assert.deepEqual(evidenceTargets(claim, BASE), [
      { reference: 'Observation/a', sequences: [1, 2], local: { type: 'Observation', id: 'a' } },
      { reference: 'Observation/a/_history/2', sequences: [3], local: { type: 'Observation', id: 'a', versionId: '2' } },
      { reference: '#contained', sequences: [5] },
      { reference: 'https://elsewhere.example.org/fhir/Observation/a', sequences: [6] },
      { reference: 'ImagingStudy/img-1', sequences: [7], local: { type: 'ImagingStudy', id: 'img-1' } },
    ]);
  });

  it('a claim without supportingInfo has no evidence', () => {
    assert.deepEqual(evidenceTargets({ resourceType: 'Claim' } as Claim, BASE), []);
  });
});

describe('evidence entries', () => {
  it('evidenceRecord rebuilds exactly the leaf record the server hashes for the version', () => {
    const resource = { resourceType: 'Observation', id: 'a', meta: { versionId: '3', lastUpdated: '2024-01-02T03:04:05.678Z' }, status: 'final' } as Resource;
    assert.deepEqual(evidenceRecord(resource), leafRecordOf({ resourceType: 'Observation', id: 'a', versionId: '3', lastUpdated: '2024-01-02T03:04:05.678Z', deleted: false, resource }));
    assert.throws(() => evidenceRecord({ resourceType: 'Observation', id: 'a' } as Resource), /meta\.versionId/);
  });

  it('a withheld entry says so with its categories and an outcome, and has no receipt', () => {
    const entry = absentEntry({ status: 'withheld', reference: 'Observation/hiv', sequences: [2, 5], categories: ['hiv-and-infectious-disease', 'laboratory'] });
    const mark = evidenceMarkOf(entry);
    // Exactly these parts: no verdict, no receipt.
    assert.deepEqual(mark, { status: 'withheld', reference: 'Observation/hiv', sequences: [2, 5], categories: ['hiv-and-infectious-disease', 'laboratory'] });
    assert.equal(entry.resource?.resourceType, 'OperationOutcome');
    assert.deepEqual((entry.resource as { issue: Array<{ code: string; expression: string[] }> }).issue[0]?.expression, ['supportingInfo.where(sequence = 2).value', 'supportingInfo.where(sequence = 5).value']);
  });
});
