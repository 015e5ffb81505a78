import type { Resource } from '@medplum/fhirtypes';
import type { Definitions } from '../../fhir/definitions.js';
import { capAge, capAgeRange } from './age-limits.js';
import { oldestPossibleAge, shiftDateValue } from './date-shift.js';
import { planFor, type Action } from './element-plan.js';
import { Pseudonyms } from './pseudonyms.js';
import { rewriteReference } from './references.js';
import { AGE_90_OR_OLDER_URL, AGE_CAP_YEARS, DATA_ABSENT_REASON_URL, DROPPED_EXTENSIONS, PSEUDONYMIZED_LABEL } from './safe-harbor-rules.js';
import { generaliseZip } from './zip-codes.js';

export { loadDeidKey } from './deid-key.js';

export interface DeidentifyOptions {
  readonly key: Uint8Array;
  /** Study or job namespace: pseudonyms and date shifts are stable within it, unrelated across. */
  readonly scope: string;
  /**
   * This server's base URL (no trailing slash). Absolute references under it are rewritten
   * like relative ones; without it, and for any other server, absolute references are removed.
   */
  readonly baseUrl?: string;
  /** The day ages are computed at (default: when the Deidentifier is made). */
  readonly asOf?: Date;
}

type Json = Record<string, unknown>;

const UNDERSCORE = 0x5f;
/** Primitive arrays and their `_name` partners are kept position by position: `_given[i]` describes `given[i]`. */
const isPrimitiveAction = (a: Action): boolean => a.kind !== 'node' && a.kind !== 'resource';

/**
 * De-identifies resources for one scope (HIPAA Safe Harbor identifiers removed, ids and
 * references pseudonymised, dates shifted per patient, ages of 90 and over generalised).
 * Elements are found by their R4 type, from the StructureDefinitions `Definitions` loaded,
 * so every Identifier, Reference, date … in any resource, backbone element, choice element,
 * extension or contained resource is handled without listing paths per resource type.
 */
export class Deidentifier {
  private readonly pseudonyms: Pseudonyms;
  private readonly asOf: Date;
  private readonly baseUrl: string | undefined;

  constructor(
    private readonly defs: Definitions,
    opts: DeidentifyOptions,
  ) {
    this.pseudonyms = new Pseudonyms(opts.key, opts.scope);
    this.asOf = opts.asOf ?? new Date();
    this.baseUrl = opts.baseUrl?.replace(/\/+$/, '');
  }

  /** A de-identified copy; `patientId` (the real Patient id the resource belongs to) decides the date shift. */
  resource(r: Resource, patientId: string | undefined): Resource {
    const days = patientId === undefined ? 0 : this.pseudonyms.offsetDays(patientId);
    const out = this.walkResource(r, days, false);
    if (out === undefined) throw new TypeError(`not a FHIR R4 resource: ${String((r as unknown as Json | null)?.resourceType)}`);
    return out as unknown as Resource;
  }

  /** The days `patientId`'s dates move by in this scope (for tests and the README's worked example). */
  shiftDays(patientId: string): number {
    return this.pseudonyms.offsetDays(patientId);
  }

  /** The pseudonym resource `type`/`id` gets in this scope. */
  pseudonym(type: string, id: string): string {
    return this.pseudonyms.id(type, id);
  }

  private walkResource(src: unknown, days: number, contained: boolean): Json | undefined {
    if (!isObject(src)) return undefined;
    const type = src.resourceType;
    if (typeof type !== 'string' || !this.defs.isResourceType(type)) return undefined;
    const out: Json = { resourceType: type };
    if (typeof src.id === 'string') out.id = contained ? src.id : this.pseudonyms.id(type, src.id, false);
    // Claims the key's place so the label shows near the top of every line.
    if (!contained) out.meta = undefined;
    const body = this.walkNode(src, type, days);
    if (body) Object.assign(out, body);
    if (!contained) out.meta = labelled(out.meta as Json | undefined);
    // Patient, RelatedPerson, Person and Practitioner carry birthDate.
    if (typeof src.birthDate === 'string') this.generaliseBirthDate(src.birthDate, out);
    return out;
  }

  private walkNode(src: unknown, type: string, days: number): Json | undefined {
    if (!isObject(src)) return undefined;
    const plan = planFor(type);
    let out: Json | undefined;
    for (const key in src) {
      const action = plan.get(key);
      if (action === undefined || action.kind === 'drop') continue;
      const value = src[key];
      const result = Array.isArray(value)
        ? this.walkArray(value, action, days, key.charCodeAt(0) === UNDERSCORE || isPrimitiveAction(action))
        : this.apply(value, action, days);
      if (result === undefined) continue;
      (out ??= {})[key] = result;
    }
    return out === undefined ? undefined : afterNode(type, out);
  }

  private walkArray(values: readonly unknown[], action: Action, days: number, positional: boolean): unknown[] | undefined {
    const out: unknown[] = [];
    let present = 0;
    for (const v of values) {
      const r = v === null ? undefined : this.apply(v, action, days);
      if (r !== undefined) {
        present++;
        out.push(r);
      } else if (positional) {
        out.push(null);
      }
    }
    return present === 0 ? undefined : out;
  }

  private apply(value: unknown, action: Action, days: number): unknown {
    switch (action.kind) {
      case 'keep':
        return value !== null && typeof value === 'object' ? undefined : value;
      case 'date':
        return typeof value === 'string' ? shiftDateValue(value, days) : undefined;
      case 'reference':
        return typeof value === 'string' ? rewriteReference(value, this.defs, this.pseudonyms, this.baseUrl) : undefined;
      case 'dicomUid':
        return typeof value === 'string' ? this.pseudonyms.dicomUid(value) : undefined;
      case 'node':
        return this.walkNode(value, action.type, days);
      case 'resource':
        return this.walkResource(value, days, action.contained);
      case 'drop':
        return undefined;
    }
  }

  /**
   * Safe Harbor (C): a birth date that puts the person at 90 or older today goes. Both the
   * real and the shifted date are checked, so the shift can neither hide nor reveal it.
   */
  private generaliseBirthDate(birthDate: string, out: Json): void {
    const real = oldestPossibleAge(birthDate, this.asOf) ?? AGE_CAP_YEARS;
    const shifted = typeof out.birthDate === 'string' ? (oldestPossibleAge(out.birthDate, this.asOf) ?? AGE_CAP_YEARS) : 0;
    if (Math.max(real, shifted) < AGE_CAP_YEARS) return;
    delete out.birthDate;
    out._birthDate = {
      extension: [
        { url: DATA_ABSENT_REASON_URL, valueCode: 'masked' },
        { url: AGE_90_OR_OLDER_URL, valueBoolean: true },
      ],
    };
  }
}

/** Type-specific fixes once a node's own properties are done. */
function afterNode(type: string, out: Json): Json | undefined {
  switch (type) {
    case 'Reference':
      // Only a type left says nothing; a reference that lost its target is dropped.
      return out.reference === undefined && out.extension === undefined ? undefined : out;
    case 'Extension':
      return keepExtension(out) ? out : undefined;
    case 'Address':
      return generaliseAddress(out);
    case 'Age':
      return capAge(out, true);
    case 'Quantity':
      return capAge(out, false);
    case 'Range':
      return capAgeRange(out);
    default:
      return out;
  }
}

function keepExtension(ext: Json): boolean {
  if (typeof ext.url !== 'string' || DROPPED_EXTENSIONS.has(ext.url)) return false;
  if (ext.extension !== undefined) return true;
  for (const key in ext) if (key.startsWith('value')) return true;
  return false;
}

function generaliseAddress(address: Json): Json | undefined {
  if (typeof address.postalCode === 'string') {
    const zip = generaliseZip(address.postalCode, typeof address.country === 'string' ? address.country : undefined);
    if (zip === undefined) delete address.postalCode;
    else address.postalCode = zip;
  }
  delete address._postalCode;
  return Object.keys(address).length === 0 ? undefined : address;
}

function labelled(meta: Json | undefined): Json {
  const security = Array.isArray(meta?.security) ? (meta.security as Json[]) : [];
  const has = security.some((c) => c.system === PSEUDONYMIZED_LABEL.system && c.code === PSEUDONYMIZED_LABEL.code);
  return { ...meta, security: has ? security : [...security, { ...PSEUDONYMIZED_LABEL }] };
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
