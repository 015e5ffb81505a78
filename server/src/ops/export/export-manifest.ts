import type { DocumentReference, DocumentReferenceContent } from '@medplum/fhirtypes';
import { createHash } from 'node:crypto';
import type { JobFile, JobRecord } from './export-job-store.js';

/**
 * The completion manifest (Bulk Data IG v2, "Response - Complete Status",
 * https://hl7.org/fhir/uv/bulkdata/export.html#response---complete-status) and the FHIR
 * resource that makes it and every file's SHA-256 a Merkle log leaf.
 */

/** Manifest extension: where the stored integrity record of this export is, and how to verify it. */
export const INTEGRITY_EXTENSION = 'https://custodian.example.org/fhir/StructureDefinition/export-integrity';
/** Attachment extension: SHA-256 (hex) of the file's bytes (R4 Attachment.hash is SHA-1). */
export const FILE_SHA256_EXTENSION = 'https://custodian.example.org/fhir/StructureDefinition/export-file-sha256';
/** Identifier system of export jobs on the integrity DocumentReference. */
export const EXPORT_JOB_SYSTEM = 'https://custodian.example.org/fhir/sid/export-job';

export const NDJSON = 'application/fhir+ndjson';

export interface BulkManifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: true;
  output: { type: string; url: string; count: number }[];
  error: { type: string; url: string; count?: number }[];
  extension?: Record<string, unknown>;
}

/** The download URL of one file: `[base]/$export-file/<job>.<file>`. */
export function fileUrl(baseUrl: string, jobId: string, name: string): string {
  return `${baseUrl}/$export-file/${jobId}.${name}`;
}

/** The manifest as stored in the integrity record (without the extension that points at that record). */
export function manifestOf(job: JobRecord): BulkManifest {
  return {
    transactionTime: job.transactionTime as string,
    request: job.request,
    requiresAccessToken: true,
    output: (job.output ?? []).map((f) => ({ type: f.type, url: fileUrl(job.baseUrl, job.id, f.name), count: f.count })),
    error: (job.error ?? []).map((f) => ({ type: f.type, url: fileUrl(job.baseUrl, job.id, f.name), count: f.count })),
  };
}

/** The manifest a client receives: the stored one plus the link to its integrity record. */
export function servedManifest(job: JobRecord): BulkManifest {
  const m = manifestOf(job);
  if (!job.integrity) return m;
  return { ...m, extension: { [INTEGRITY_EXTENSION]: { documentReference: job.integrity, verify: `${job.baseUrl}/${job.integrity}/$verify` } } };
}

/** The integrity record's id for a job. */
export function integrityId(jobId: string): string {
  return `export-${jobId}`.slice(0, 64);
}

/**
 * A DocumentReference holding the manifest (its exact JSON bytes, base64) and one attachment
 * per file with its URL, byte size and SHA-256. Stored like any resource, its version is a
 * leaf of the Merkle log; `$verify` on that version gives the receipt, and a recipient
 * recomputes each file's SHA-256 to prove what they received is what was recorded.
 */
export function integrityDocument(job: JobRecord, manifest: BulkManifest, date: string): DocumentReference {
  const manifestJson = JSON.stringify(manifest);
  const attachment = (f: JobFile): DocumentReferenceContent => ({
    attachment: {
      extension: [{ url: FILE_SHA256_EXTENSION, valueString: f.sha256 }],
      contentType: NDJSON,
      url: fileUrl(job.baseUrl, job.id, f.name),
      size: f.bytes,
      title: `${f.type} (${f.count} resources)`,
    },
  });
  return {
    resourceType: 'DocumentReference',
    id: integrityId(job.id),
    identifier: [{ system: EXPORT_JOB_SYSTEM, value: job.id }],
    status: 'current',
    docStatus: 'final',
    date,
    description: `Bulk Data export ${job.id} for client ${job.principal.client_id}: the manifest and the SHA-256 of every file`,
    content: [
      {
        attachment: {
          extension: [{ url: FILE_SHA256_EXTENSION, valueString: createHash('sha256').update(manifestJson, 'utf8').digest('hex') }],
          contentType: 'application/json',
          data: Buffer.from(manifestJson, 'utf8').toString('base64'),
          title: 'manifest',
        },
      },
      ...(job.output ?? []).map(attachment),
      ...(job.error ?? []).map(attachment),
    ],
  };
}
