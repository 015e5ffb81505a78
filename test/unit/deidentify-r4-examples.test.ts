import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { crawlTypedValue, type TypedValueWithPath } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { deepFreeze } from '../../server/src/fhir/clone-json.js';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import { Deidentifier } from '../../server/src/ops/deidentify/deidentifier.js';
import { r4ExamplesDir } from '../helpers/r4-consent-examples.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const defs = loadDefinitions(resolve(ROOT, 'fhir-profiles'));

/** Conformance and terminology resources hold no patient data; the rest is every clinical, financial and administrative example. */
const NOT_PATIENT_DATA = /^(SearchParameter|ValueSet|CodeSystem|StructureDefinition|ConceptMap|CapabilityStatement|OperationDefinition|NamingSystem|ImplementationGuide|StructureMap|CompartmentDefinition|GraphDefinition|MessageDefinition|TerminologyCapabilities|TestScript|ExampleScenario|ElementDefinition)-/;
const REFERENCE_OK = /^(?:[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{22}|#.*|urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})$/;
const DROPPED_TYPES = new Set(['Identifier', 'HumanName', 'ContactPoint', 'ContactDetail', 'Narrative', 'Annotation', 'Signature', 'url', 'base64Binary', 'xhtml']);

/**
 * What a de-identified resource must not hold, found with @medplum/core's own typed crawler
 * (not the de-identifier's walker), so an element the walker missed shows up here.
 */
function violations(resource: Resource): string[] {
  const found: string[] = [];
  crawlTypedValue(
    { type: resource.resourceType, value: resource },
    {
      visitProperty: (_parent, _key, path, values) => {
        for (const v of values.flat() as TypedValueWithPath[]) {
          if (v.value === undefined || v.value === null) continue;
          if (DROPPED_TYPES.has(v.type)) found.push(`${path}: ${v.type}`);
          const o = v.value as Record<string, unknown>;
          if (v.type === 'Address' && (o.line || o.city || o.district || o.text)) found.push(`${path}: address detail`);
          if (v.type === 'Address' && typeof o.postalCode === 'string' && !/^\d{3}$/.test(o.postalCode)) found.push(`${path}: postal code ${o.postalCode}`);
          if (v.type === 'Reference' && o.display !== undefined) found.push(`${path}: reference display`);
          if (v.type === 'Reference' && o.reference !== undefined && !REFERENCE_OK.test(String(o.reference))) found.push(`${path}: reference ${String(o.reference)}`);
          if (v.type === 'Attachment' && (o.data || o.url || o.title)) found.push(`${path}: attachment content`);
        }
      },
    },
  );
  return found;
}

describe('Deidentifier over the FHIR R4 specification examples (every resource type)', () => {
  const dir = r4ExamplesDir();
  if (!dir) {
    it.skip('hl7.fhir.r4.examples is not installed (npm ci installs it as a devDependency)', () => {});
    return;
  }
  const files = readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'package.json' && !NOT_PATIENT_DATA.test(f) && statSync(join(dir, f)).size < 200_000);

  it(`removes every identifier, name, telecom, narrative, note, address detail, URL and display from ${files.length} examples, without touching the input`, () => {
    const d = new Deidentifier(defs, { key: new Uint8Array(32).fill(3), scope: 'r4-examples', baseUrl: 'http://hl7.org/fhir', asOf: new Date('2025-01-01T00:00:00Z') });
    const problems: string[] = [];
    const types = new Set<string>();
    for (const f of files) {
      const input = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Resource;
      if (!defs.isResourceType(input.resourceType)) continue;
      types.add(input.resourceType);
      const before = JSON.stringify(input);
      const out = d.resource(deepFreeze(input), 'example');
      assert.equal(JSON.stringify(input), before);
      for (const v of violations(out)) problems.push(`${f}: ${v}`);
    }
    assert.deepEqual(problems.slice(0, 20), []);
    assert.ok(types.size > 100, `only ${types.size} resource types seen`);
  });
});
