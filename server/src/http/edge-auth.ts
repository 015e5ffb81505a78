import type { IncomingHttpHeaders } from 'node:http';
import { AuthenticationError, PURPOSE_HEADER, type Authenticator } from '../auth/authenticate.js';
import { ANONYMOUS_PRINCIPAL, type Principal } from '../auth/principal.js';
import type { FhirResponse } from '../fhir/fhir-request.js';

/**
 * Who a request below the FHIR base acts for. Everything needs a bearer token except the
 * CapabilityStatement (`GET [base]/metadata`), which SMART clients read before they have one;
 * it runs as the anonymous principal. (`[base]/.well-known/smart-configuration` never reaches
 * the FHIR core: the app serves it.) The source address is the socket's peer, never
 * X-Forwarded-For.
 */
export interface EdgeGate {
  principalFor(req: { method: string; target: string; headers: IncomingHttpHeaders; remoteAddress: string | undefined }): Promise<Principal>;
}

export function createEdgeGate(authenticator: Authenticator): EdgeGate {
  return {
    async principalFor({ method, target, headers, remoteAddress }) {
      if ((method === 'GET' || method === 'HEAD') && isMetadata(target)) return ANONYMOUS_PRINCIPAL;
      return authenticator.authenticate({
        authorization: single(headers.authorization),
        purposeOfUse: single(headers[PURPOSE_HEADER]),
        sourceAddress: remoteAddress,
      });
    },
  };
}

/** The `WWW-Authenticate` challenge an authentication failure carries, as response headers. */
export function challengeHeaders(err: unknown): FhirResponse['headers'] {
  return err instanceof AuthenticationError ? { 'WWW-Authenticate': err.challenge } : undefined;
}

function isMetadata(target: string): boolean {
  const q = target.indexOf('?');
  return (q < 0 ? target : target.slice(0, q)).replace(/^\/+|\/+$/g, '') === 'metadata';
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
