import type { Filter, SearchRequest } from '@medplum/core';
import type { SearchParameter } from '@medplum/fhirtypes';
import type { ResourceStore, SortKey } from '../../store/resource-store.js';
import type { Definitions } from '../definitions.js';
import { FhirError } from '../outcomes.js';
import { dateRange } from './date-range.js';
import { normaliseString } from './normalise-string.js';

/**
 * Compiles a parsed FHIR search (R4 §3.1.1, https://hl7.org/fhir/R4/search.html) into one
 * MongoDB query document over StoredDocument fields. Both engines execute exactly this document.
 * Values from the client are only ever placed in value positions: operator names come from this
 * file, so `$where`-style injection through parameter values is impossible.
 */
export interface CompiledSearch {
  filter: Record<string, unknown>;
  sort: SortKey[];
  /** Parameters that were ignored (lenient handling); reported in the Bundle's OperationOutcome. */
  ignored: string[];
}

type Doc = Record<string, unknown>;

/** SearchParameter types this compiler handles; the CapabilityStatement lists only these. */
export const SUPPORTED_SEARCH_TYPES: ReadonlySet<string> = new Set(['string', 'token', 'reference', 'date', 'number', 'quantity', 'uri']);

export interface CompileOptions {
  /** `Prefer: handling=strict`: unknown or unsupported parameters are errors, not warnings. */
  strict: boolean;
  /**
   * Where chained parameters, `_has`, `_list` and `:in` ValueSets are looked up. The caller
   * passes the store it may read (the consent-scoped one), so sub-queries see no more than it.
   */
  store: Pick<ResourceStore, 'search' | 'readCurrent'>;
}

export async function compileSearch(defs: Definitions, req: SearchRequest, opts: CompileOptions): Promise<CompiledSearch> {
  const strict = opts.strict;
  const params = defs.searchParameters(req.resourceType);
  const clauses: Doc[] = [];
  const ignored: string[] = [];
  const unsupported = (message: string, code: string): void => {
    if (strict) throw new FhirError('unknown-parameter', message, code);
    ignored.push(message);
  };

  for (const f of req.filters ?? []) {
    if (f.code === '_id') {
      clauses.push(orOf(split(f.value).map((v) => ({ id: v })), f.operator === 'not'));
      continue;
    }
    if (f.code === '_lastUpdated') {
      clauses.push(orOf(split(f.value).map((v) => dateClause('lastUpdatedMs', f.operator, v, true)), f.operator === 'ne'));
      continue;
    }
    const param = params[f.code];
    if (!param) {
      unsupported(`Unknown search parameter '${f.code}' for ${req.resourceType}`, f.code);
      continue;
    }
    const clause = compileFilter(param, f);
    if (clause === undefined) {
      unsupported(`Modifier or operator '${f.operator}' is not supported on '${f.code}' (${param.type})`, f.code);
      continue;
    }
    clauses.push(clause);
  }

  const sort: SortKey[] = [];
  for (const rule of req.sortRules ?? []) {
    const dir: 1 | -1 = rule.descending ? -1 : 1;
    if (rule.code === '_id') sort.push(['id', dir]);
    else if (rule.code === '_lastUpdated') sort.push(['lastUpdatedMs', dir]);
    else {
      const param = params[rule.code];
      if (!param) {
        unsupported(`Unknown sort parameter '${rule.code}' for ${req.resourceType}`, '_sort');
        continue;
      }
      sort.push([sortField(param, rule.code, dir), dir]);
    }
  }

  const filter = clauses.length === 0 ? {} : clauses.length === 1 ? (clauses[0] as Doc) : { $and: clauses };
  return { filter, sort, ignored };
}

function compileFilter(param: SearchParameter, f: Filter): Doc | undefined {
  const field = `idx.${param.code}`;
  const values = split(f.value);
  if (f.operator === 'missing') {
    const missing = f.value === 'true';
    return missing ? { [field]: { $exists: false } } : { [field]: { $exists: true } };
  }
  switch (param.type) {
    case 'string': {
      if (f.operator === 'eq' || f.operator === 'sw') {
        return orOf(values.map((v) => ({ [field]: { $regex: `^${escapeRegex(normaliseString(v))}` } })));
      }
      if (f.operator === 'contains') {
        return orOf(values.map((v) => ({ [field]: { $regex: escapeRegex(normaliseString(v)) } })));
      }
      if (f.operator === 'exact') return orOf(values.map((v) => ({ [field]: normaliseString(v) })));
      return undefined;
    }
    case 'token': {
      if (f.operator === 'eq' || f.operator === 'not') {
        return orOf(values.map((v) => ({ [field]: { $elemMatch: tokenMatch(v) } })), f.operator === 'not');
      }
      if (f.operator === 'text') {
        return orOf(values.map((v) => ({ [field]: { $elemMatch: { t: { $regex: `^${escapeRegex(normaliseString(v))}` } } } })));
      }
      return undefined;
    }
    case 'reference': {
      if (f.operator !== 'eq' && f.operator !== 'not') return undefined;
      const refs = values.flatMap((v) => referenceCandidates(param, v));
      return orOf([{ [field]: { $in: refs } }], f.operator === 'not');
    }
    case 'date':
      return orOf(values.map((v) => dateClause(field, f.operator, v, false)), f.operator === 'ne');
    case 'number':
      return orOf(values.map((v) => numberClause(field, f.operator, v)));
    case 'quantity':
      return orOf(values.map((v) => quantityClause(field, f.operator, v)));
    case 'uri':
      if (f.operator === 'eq') return { [field]: { $in: values } };
      return undefined;
    default:
      return undefined;
  }
}

function tokenMatch(v: string): Doc {
  const bar = v.indexOf('|');
  if (bar < 0) return { c: v };
  const system = v.slice(0, bar);
  const code = v.slice(bar + 1);
  if (system === '') return { s: { $exists: false }, c: code };
  if (code === '') return { s: system };
  return { s: system, c: code };
}

function referenceCandidates(param: SearchParameter, v: string): string[] {
  if (v.includes('/')) return [v.replace(/\/_history\/.*$/, '')];
  const targets = param.target ?? [];
  return targets.length > 0 ? targets.map((t) => `${t}/${v}`) : [v];
}

/** Date prefixes per R4 §3.1.1.4.2, comparing the value's range with the parameter's range. */
function dateClause(field: string, op: string, raw: string, scalar: boolean): Doc {
  const r = dateRange(raw);
  if (!r) throw new FhirError('bad-request', `Invalid date '${raw}'`);
  if (scalar) {
    // lastUpdated is an instant: its range is a single point.
    const conds: Record<string, Doc> = {
      eq: { $gte: r.lo, $lte: r.hi },
      ne: { $gte: r.lo, $lte: r.hi },
      gt: { $gt: r.hi },
      ge: { $gte: r.lo },
      lt: { $lt: r.lo },
      le: { $lte: r.hi },
      sa: { $gt: r.hi },
      eb: { $lt: r.lo },
      ap: { $gte: r.lo - approx(r), $lte: r.hi + approx(r) },
    };
    const c = conds[op];
    if (!c) throw new FhirError('bad-request', `Unsupported date prefix '${op}'`);
    return { [field]: c };
  }
  const m: Record<string, Doc> = {
    eq: { lo: { $gte: r.lo }, hi: { $lte: r.hi } },
    ne: { lo: { $gte: r.lo }, hi: { $lte: r.hi } },
    gt: { hi: { $gt: r.hi } },
    ge: { hi: { $gte: r.lo } },
    lt: { lo: { $lt: r.lo } },
    le: { lo: { $lte: r.hi } },
    sa: { lo: { $gt: r.hi } },
    eb: { hi: { $lt: r.lo } },
    ap: { lo: { $lte: r.hi + approx(r) }, hi: { $gte: r.lo - approx(r) } },
  };
  const c = m[op];
  if (!c) throw new FhirError('bad-request', `Unsupported date prefix '${op}'`);
  return { [field]: { $elemMatch: c } };
}

function approx(r: { lo: number; hi: number }): number {
  // The spec leaves "approximately" to the server: 10% of the distance to now, at least a day.
  return Math.max(86_400_000, Math.abs(Date.now() - r.lo) * 0.1);
}

function numberClause(field: string, op: string, raw: string): Doc {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) throw new FhirError('bad-request', `Invalid number '${raw}'`);
  return { [field]: numericCondition(op, n, raw) };
}

function quantityClause(field: string, op: string, raw: string): Doc {
  const [num = '', system, code] = raw.split('|');
  const n = Number(num);
  if (num.trim() === '' || !Number.isFinite(n)) throw new FhirError('bad-request', `Invalid quantity '${raw}'`);
  const m: Doc = { v: numericCondition(op, n, num) };
  if (system) m.s = system;
  if (code) m.c = code;
  return { [field]: { $elemMatch: m } };
}

/** Implicit precision (R4 §3.1.1.4.1): "100" matches [99.5, 100.5). */
function numericCondition(op: string, n: number, raw: string): Doc {
  const decimals = raw.includes('.') ? raw.split('.')[1]!.replace(/e.*$/i, '').length : 0;
  const half = 0.5 * 10 ** -decimals;
  switch (op) {
    case 'eq':
      return { $gte: n - half, $lt: n + half };
    case 'ne':
      return { $not: { $gte: n - half, $lt: n + half } };
    case 'gt':
    case 'sa':
      return { $gt: n };
    case 'ge':
      return { $gte: n };
    case 'lt':
    case 'eb':
      return { $lt: n };
    case 'le':
      return { $lte: n };
    case 'ap':
      return { $gte: n - Math.abs(n) * 0.1, $lte: n + Math.abs(n) * 0.1 };
    default:
      throw new FhirError('bad-request', `Unsupported number prefix '${op}'`);
  }
}

function sortField(param: SearchParameter, code: string, dir: 1 | -1): string {
  switch (param.type) {
    case 'date':
      return dir === 1 ? `idx.${code}.lo` : `idx.${code}.hi`;
    case 'token':
      return `idx.${code}.c`;
    case 'quantity':
      return `idx.${code}.v`;
    default:
      return `idx.${code}`;
  }
}

function orOf(clauses: Doc[], negate = false): Doc {
  const one = clauses.length === 1 ? (clauses[0] as Doc) : { $or: clauses };
  return negate ? { $nor: [one] } : one;
}

/** Splits on commas not escaped with a backslash (R4 §3.1.1.5 escaping). */
function split(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '\\' && i + 1 < value.length) {
      cur += value[++i];
    } else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
