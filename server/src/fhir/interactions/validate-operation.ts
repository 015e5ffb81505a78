import type { Parameters, Resource } from '@medplum/fhirtypes';
import type { FhirContext } from '../fhir-context.js';
import type { FhirRequest, FhirResponse } from '../fhir-request.js';
import { FhirError } from '../outcomes.js';
import { validate } from '../validation.js';

/**
 * $validate (R4 §6.1.20, https://hl7.org/fhir/R4/resource-operation-validate.html): always 200
 * with an OperationOutcome listing the findings; accepts the resource itself or a Parameters
 * wrapper with `resource` (and optional `profile`).
 */
export async function validateOperation(ctx: FhirContext, req: FhirRequest, type: string): Promise<FhirResponse> {
  let resource = req.body as Resource | undefined;
  let profile: string | undefined;
  if (resource?.resourceType === 'Parameters') {
    const params = (resource as Parameters).parameter ?? [];
    profile = params.find((p) => p.name === 'profile')?.valueUri ?? params.find((p) => p.name === 'profile')?.valueCanonical;
    resource = params.find((p) => p.name === 'resource')?.resource;
  }
  if (!resource || typeof resource !== 'object') throw new FhirError('bad-request', '$validate needs a resource in the body');
  if (resource.resourceType !== type) {
    throw new FhirError('type-mismatch', `Resource type '${String(resource.resourceType)}' does not match '${type}'`, 'resourceType');
  }
  if (profile) {
    if (!ctx.defs.profile(profile)) throw new FhirError('bad-request', `Profile ${profile} is not known to this server`, 'profile');
    resource = { ...resource, meta: { ...resource.meta, profile: [...(resource.meta?.profile ?? []), profile] } } as Resource;
  }
  const issues = validate(ctx.defs, resource);
  return {
    status: 200,
    body: {
      resourceType: 'OperationOutcome',
      issue: issues.length > 0 ? issues : [{ severity: 'information', code: 'informational', details: { text: 'Validation passed' } }],
    },
  };
}
