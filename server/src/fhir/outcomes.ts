import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

/**
 * OperationOutcome is the single error currency of the server (FHIR R4 §2.21 "OperationOutcome",
 * https://hl7.org/fhir/R4/operationoutcome.html). Every failure is a FhirError carrying a stable
 * code; the one table below turns codes into HTTP statuses, so no handler picks a status itself.
 */
export type ErrorCode =
  | 'bad-request'
  | 'invalid-json'
  | 'invalid-resource'
  | 'unknown-type'
  | 'unknown-parameter'
  | 'id-mismatch'
  | 'type-mismatch'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'method-not-allowed'
  | 'not-acceptable'
  | 'conflict'
  | 'gone'
  | 'precondition-failed'
  | 'too-large'
  | 'unsupported-media-type'
  | 'unprocessable'
  | 'multiple-matches'
  | 'too-many-requests'
  | 'not-supported'
  | 'unavailable'
  | 'internal';

interface CodeInfo {
  status: number;
  /** FHIR IssueType (https://hl7.org/fhir/R4/valueset-issue-type.html). */
  issueCode: OperationOutcomeIssue['code'];
}

export const ERROR_CODES: Readonly<Record<ErrorCode, CodeInfo>> = Object.freeze({
  'bad-request': { status: 400, issueCode: 'invalid' },
  'invalid-json': { status: 400, issueCode: 'structure' },
  'invalid-resource': { status: 400, issueCode: 'invalid' },
  'unknown-type': { status: 404, issueCode: 'not-supported' },
  'unknown-parameter': { status: 400, issueCode: 'not-supported' },
  'id-mismatch': { status: 400, issueCode: 'invalid' },
  'type-mismatch': { status: 400, issueCode: 'invalid' },
  unauthorized: { status: 401, issueCode: 'login' },
  forbidden: { status: 403, issueCode: 'forbidden' },
  'not-found': { status: 404, issueCode: 'not-found' },
  'method-not-allowed': { status: 405, issueCode: 'not-supported' },
  'not-acceptable': { status: 406, issueCode: 'not-supported' },
  conflict: { status: 409, issueCode: 'conflict' },
  gone: { status: 410, issueCode: 'deleted' },
  'precondition-failed': { status: 412, issueCode: 'conflict' },
  'too-large': { status: 413, issueCode: 'too-costly' },
  'unsupported-media-type': { status: 415, issueCode: 'not-supported' },
  unprocessable: { status: 422, issueCode: 'processing' },
  'multiple-matches': { status: 412, issueCode: 'multiple-matches' },
  'too-many-requests': { status: 429, issueCode: 'throttled' },
  'not-supported': { status: 501, issueCode: 'not-supported' },
  unavailable: { status: 503, issueCode: 'transient' },
  internal: { status: 500, issueCode: 'exception' },
});

/** A failure with a stable code; `issues` may carry several validation findings. */
export class FhirError extends Error {
  readonly code: ErrorCode;
  readonly issues: OperationOutcomeIssue[];
  constructor(code: ErrorCode, message: string, expression?: string | string[], issues?: OperationOutcomeIssue[]) {
    super(message);
    this.name = 'FhirError';
    this.code = code;
    this.issues = issues ?? [
      {
        severity: 'error',
        code: ERROR_CODES[code].issueCode,
        details: { text: message },
        ...(expression ? { expression: Array.isArray(expression) ? expression : [expression] } : {}),
      },
    ];
  }
  get status(): number {
    return ERROR_CODES[this.code].status;
  }
  toOutcome(): OperationOutcome {
    return { resourceType: 'OperationOutcome', issue: this.issues };
  }
}

export function outcome(severity: OperationOutcomeIssue['severity'], code: OperationOutcomeIssue['code'], text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, details: { text } }] };
}

export function okOutcome(text = 'All OK'): OperationOutcome {
  return outcome('information', 'informational', text);
}

/**
 * The one normaliser at the boundary: any thrown value becomes [status, OperationOutcome].
 * Unknown errors become a generic 500 without their message, so internals never leak.
 */
export function normaliseError(err: unknown): { status: number; outcome: OperationOutcome; internal: boolean } {
  if (err instanceof FhirError) {
    return { status: err.status, outcome: err.toOutcome(), internal: err.status >= 500 && err.code === 'internal' };
  }
  return {
    status: 500,
    outcome: outcome('error', 'exception', 'Internal server error'),
    internal: true,
  };
}
