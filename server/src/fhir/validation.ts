import { validateResource } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import type { Definitions } from './definitions.js';
import { FhirError } from './outcomes.js';

/**
 * Validates against the R4 base definition and every project profile the resource claims in
 * meta.profile. Claimed profiles the server does not know are reported as warnings, not
 * failures: other organisations' profiles are legitimate, we just cannot check them here.
 */
export function validate(defs: Definitions, resource: Resource): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  issues.push(...runValidator(resource));
  issues.push(...defs.requiredBindings.check(resource));
  for (const url of resource.meta?.profile ?? []) {
    const profile = defs.profile(url);
    if (profile) {
      issues.push(...runValidator(resource, profile));
    } else {
      issues.push({
        severity: 'warning',
        code: 'not-supported',
        details: { text: `Profile ${url} is not known to this server; validated against the base definition only` },
        expression: ['meta.profile'],
      });
    }
  }
  return issues;
}

/** Throws FhirError('invalid-resource') with every error issue when the resource is invalid. */
export function assertValid(defs: Definitions, resource: Resource): void {
  const issues = validate(defs, resource);
  const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (errors.length > 0) {
    throw new FhirError('invalid-resource', errors[0]?.details?.text ?? 'Invalid resource', undefined, errors);
  }
}

function runValidator(resource: Resource, profile?: Parameters<typeof validateResource>[1] extends infer O ? O extends { profile?: infer P } ? P : never : never): OperationOutcomeIssue[] {
  try {
    return validateResource(resource, profile ? { profile } : undefined);
  } catch (err) {
    const outcome = (err as { outcome?: { issue?: OperationOutcomeIssue[] } }).outcome;
    if (outcome?.issue) return outcome.issue;
    return [{ severity: 'error', code: 'invalid', details: { text: (err as Error).message ?? 'Invalid resource' } }];
  }
}
