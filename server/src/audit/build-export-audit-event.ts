import type { AuditEvent, AuditEventEntity } from '@medplum/fhirtypes';
import { PATIENT_ENTITY } from './audit-codes.js';
import { buildAuditEvents, type AuditedAccess } from './build-audit-event.js';

/**
 * The AuditEvents of one finished Bulk Data export job: the disclosure itself, after IHE
 * BALP's "Privacy Disclosure at Source" idea (https://profiles.ihe.net/ITI/BALP/content.html:
 * an export is a disclosure) in the RESTful shape of every other Custodian event: type `rest`,
 * subtype `operation` + `export`, the requesting user and client, the server, the kick-off
 * query, the integrity record's version (a DocumentReference holding the manifest and every
 * file's SHA-256) and the patients whose data left. BALP codes the disclosure as DICOM 110106
 * "Export" with the ISO 21089 subtype `disclose`; the Custodian AuditEvent profile fixes the
 * type to `rest` and allows only the RESTful and operation subtypes, so the job's events are
 * told apart from the kick-off request's by the integrity record among their entities.
 *
 * **One event per patient** whose data left, as for every other access (BALP; the profile's
 * cust-audit-6 allows one patient per event), plus one event without a patient for the job
 * itself. One event listing many patients would show each of them, through their own
 * `AuditEvent?patient=` search, who else was in the cohort. The count therefore grows with the
 * cohort (1 + patients); the memory does not: the job streams its patients from a file and
 * stores their events in batches of EXPORT_AUDIT_BATCH. The kick-off, status, download and
 * cancel requests are audited separately, like every request.
 */

/** Events handed to the audit sink at once while a job's patients are streamed. */
export const EXPORT_AUDIT_BATCH = 500;

export interface ExportAudit {
  readonly recorded: string;
  readonly method: 'GET' | 'POST';
  /** The kick-off path and query below the base. */
  readonly rawRequest: string;
  /** 200 for a completed job, 500 for one that failed. */
  readonly status: number;
  readonly outcomeText?: string;
  readonly principal: AuditedAccess['principal'];
  readonly server: AuditedAccess['server'];
  /** `DocumentReference/<id>/_history/<v>`: what was disclosed, with every file's hash. */
  readonly integrity?: string;
  readonly consent?: AuditedAccess['consent'];
}

/** The job's event for `patient` (one Patient entity), or the job's own event without a patient. */
export function buildExportAuditEvent(job: ExportAudit, patient: string | undefined): AuditEvent {
  const ref = job.integrity ? /^([A-Za-z]+)\/([^/]+)\/_history\/([^/]+)$/.exec(job.integrity) : null;
  const access: AuditedAccess = {
    recorded: job.recorded,
    interaction: 'operation',
    operation: 'export',
    method: job.method,
    rawRequest: job.rawRequest,
    status: job.status,
    ...(job.outcomeText ? { outcomeText: job.outcomeText } : {}),
    principal: job.principal,
    server: job.server,
    // The integrity record is in no patient compartment: buildAuditEvents makes exactly one event.
    resources: ref ? [{ type: ref[1] as string, id: ref[2] as string, versionId: ref[3] as string, patients: [] }] : [],
    patients: [],
    ...(job.consent ? { consent: job.consent } : {}),
  };
  const [event] = buildAuditEvents(access);
  const e = event as AuditEvent;
  if (patient === undefined) return e;
  const entity: AuditEventEntity = { what: { reference: `Patient/${patient}` }, type: { ...PATIENT_ENTITY.type }, role: { ...PATIENT_ENTITY.role } };
  return { ...e, entity: [entity, ...(e.entity ?? [])] };
}
