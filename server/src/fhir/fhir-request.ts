import type { Resource } from '@medplum/fhirtypes';
import type { Principal } from '../auth/principal.js';

/**
 * The framework-free request the FHIR core handles. The HTTP edge builds it from express;
 * batch/transaction entries and in-process callers (seed, import) build it directly.
 */
export interface FhirRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  /** Path below the FHIR base without leading slash, e.g. "Patient/123/_history/2" or "" for the base. */
  path: string;
  /** Query parameters; repeated parameters keep every value in order. */
  query: Record<string, string[]>;
  /** Parsed JSON body (or JSON Patch array), if any. */
  body?: unknown;
  /** Lower-cased header names that the FHIR core understands. */
  headers: {
    'if-match'?: string;
    'if-none-exist'?: string;
    'if-none-match'?: string;
    'if-modified-since'?: string;
    prefer?: string;
    'content-type'?: string;
  };
  /** Absolute FHIR base URL without trailing slash, e.g. "http://localhost:8080/fhir". */
  baseUrl: string;
  /**
   * Who is asking. The HTTP edge sets it from the verified access token on every request (the
   * anonymous principal on public endpoints); FhirService answers 401 to a request without
   * one. In-process callers acting as the server itself go through `actingAsServer`.
   */
  principal?: Principal;
}

export interface FhirResponse {
  status: number;
  body?: Resource;
  /** `body` already serialised (e.g. straight from the store); written instead of re-encoding. */
  json?: string;
  /** Extra response headers (Location, ETag, Last-Modified, Content-Location). */
  headers?: Record<string, string>;
  /** Media type of `body`/`json` when it is not `application/fhir+json` (the Bulk Data manifest is `application/json`). */
  contentType?: string;
  /** A file sent as the body, streamed from disk by the edge (Bulk Data NDJSON files); instead of `body`/`json`. */
  file?: { readonly path: string; readonly contentType: string };
}

/** Anything that can answer a FhirRequest: the router, or a batch entry executor. */
export interface FhirHandler {
  handle(req: FhirRequest): Promise<FhirResponse>;
}
