import type { Resource } from '@medplum/fhirtypes';
import { isServerPrincipal, type Principal } from '../auth/principal.js';
import type { ConsentGate } from '../consent/consent-gate.js';
import type { FhirRequest } from '../fhir/fhir-request.js';
import { parseLocalReference } from '../fhir/local-reference.js';
import type { AccessTrace, TracedVersion } from './access-trace.js';
import type { AuditSink } from './audit-sink.js';
import { buildAuditEvents, type AuditedAccess } from './build-audit-event.js';
import { isAuditedInteraction } from './audit-codes.js';

export interface AuditedRequest {
  readonly req: FhirRequest;
  readonly principal: Principal;
  readonly interaction: string;
  readonly operation?: string;
  readonly resourceType?: string;
  readonly instanceId?: string;
  readonly status: number;
  readonly outcomeText?: string;
  readonly trace: AccessTrace;
  readonly gate?: ConsentGate;
}

/** Query parameters that name the patient a search is about. */
const PATIENT_PARAMS = ['patient', 'subject', 'beneficiary', '_id'];

/** The patient id of `Patient/x`, `Patient/x/_history/n` or any URL ending in one (any base: a request names its patient as it likes). */
function patientIdOf(ref: string): string | undefined {
  const local = parseLocalReference(ref, undefined, { anyBase: true, anyVersion: true });
  return local?.type === 'Patient' ? local.id : undefined;
}

/**
 * Turns one decided request into its AuditEvents (build-audit-event.ts) and stores them through
 * the sink before the response may leave. Requests the server makes of itself (seeding,
 * import) are not accesses and are not audited; their writes still become ledger leaves.
 */
export class RequestAuditor {
  constructor(
    private readonly sink: AuditSink,
    private readonly server: { readonly name: string },
    private readonly now: () => string,
  ) {}

  async audit(a: AuditedRequest): Promise<void> {
    if (isServerPrincipal(a.principal)) return;
    if (!isAuditedInteraction(a.interaction)) return;
    await this.sink.record(buildAuditEvents(await this.accessOf(a)));
  }

  private async accessOf(a: AuditedRequest): Promise<AuditedAccess> {
    const breakGlass = new Set((a.gate?.breakGlassAccesses ?? []).map((b) => `${b.resourceType}/${b.id}/${b.versionId}`));
    const resources = [...a.trace.shown.values()].map((v) => ({
      type: v.resourceType,
      id: v.id,
      versionId: v.versionId,
      patients: patientsOf(v),
      ...(breakGlass.has(`${v.resourceType}/${v.id}/${v.versionId}`) ? { breakGlass: true } : {}),
    }));
    const patients = new Set<string>(a.trace.namedPatients);
    for (const p of namedPatients(a)) patients.add(p);
    const withheld = [...a.trace.withheld.values()];
    for (const v of withheld) for (const p of patientsOf(v)) patients.add(p);
    const deciding: string[] = [];
    if (a.gate && withheld.length > 0) {
      for (const v of withheld) {
        const body = v.body();
        if (!body) continue;
        const d = await a.gate.explain(body);
        if (d.consent) deciding.push(d.consent);
      }
    }
    const decision: NonNullable<AuditedAccess['consent']>['decision'] = !a.gate
      ? 'not-applicable'
      : withheld.length > 0
        ? resources.length > 0
          ? 'partial'
          : 'deny'
        : 'permit';
    const p = a.principal;
    const raw = rawRequestOf(a.req);
    return {
      recorded: this.now(),
      interaction: a.interaction,
      ...(a.operation ? { operation: a.operation } : {}),
      method: a.req.method,
      rawRequest: raw,
      ...(a.resourceType ? { resourceType: a.resourceType } : {}),
      status: a.status,
      ...(a.outcomeText ? { outcomeText: a.outcomeText } : {}),
      principal: {
        subject: p.subject,
        clientId: p.clientId,
        ...(p.who ? { who: p.who } : {}),
        roles: p.roles,
        purposeOfUse: p.purposeOfUse,
        ...(p.sourceAddress ? { sourceAddress: p.sourceAddress } : {}),
      },
      server: { baseUrl: a.req.baseUrl, name: this.server.name },
      resources,
      patients: [...patients].sort(),
      ...(a.gate
        ? {
            consent: {
              mode: a.gate.mode,
              decision: a.gate.mode === 'exempt' ? 'not-applicable' : decision,
              ...(deciding.length > 0 ? { deciding } : {}),
              ...(a.gate.group ? { purposeGroup: a.gate.group } : {}),
            },
          }
        : {}),
    };
  }
}

/** The request line below the base: the path and every parameter in the order sent, percent-encoded again (form encoding). */
export function rawRequestOf(req: FhirRequest): string {
  const params = new URLSearchParams();
  for (const [k, vs] of Object.entries(req.query)) for (const v of vs) params.append(k, v);
  const q = params.toString();
  return q ? `${req.path}?${q}` : req.path;
}

/** Patients a request names: the Patient it targets, and patient-valued search parameters. */
function namedPatients(a: AuditedRequest): string[] {
  const out: string[] = [];
  if (a.resourceType === 'Patient' && a.instanceId) out.push(a.instanceId);
  for (const name of PATIENT_PARAMS) {
    for (const raw of a.req.query[name] ?? []) {
      for (const v of raw.split(',')) {
        const id = patientIdOf(v.trim());
        if (id !== undefined) out.push(id);
        else if (name === 'patient' || (name === '_id' && a.resourceType === 'Patient')) {
          if (/^[A-Za-z0-9\-.]{1,64}$/.test(v.trim())) out.push(v.trim());
        }
      }
    }
  }
  return out;
}

/**
 * The patients a version concerns: the Patient itself, or every Patient it references. A
 * reference walk, cheaper than the compartment's FHIRPath and never narrower than it (a
 * patient merely mentioned is told of the access too).
 */
export function patientsOf(v: TracedVersion): string[] {
  if (v.resourceType === 'Patient') return [v.id];
  const body = v.body();
  if (!body) return [];
  const found = new Set<string>();
  walk(body, found, 0);
  return [...found].sort();
}

function walk(node: unknown, found: Set<string>, depth: number): void {
  if (depth > 12 || node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const x of node) walk(x, found, depth + 1);
    return;
  }
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
    if (k === 'reference' && typeof v === 'string') {
      const id = patientIdOf(v);
      if (id !== undefined) found.add(id);
    } else if (k !== 'text' && k !== 'contained') walk(v, found, depth + 1);
  }
}

export type { Resource };
