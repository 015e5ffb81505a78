import type { Filter, SearchRequest } from '@medplum/core';
import type { SearchParameter } from '@medplum/fhirtypes';
import type { ResourceStore, SortKey } from '../../store/resource-store.js';
import type { Definitions } from '../definitions.js';
import { FhirError } from '../outcomes.js';
import { compileChain, compileHas, compileList, type KeyCompiler } from './chain.js';
import { compileInstant, dateConditions } from './compile-date.js';
import { numberConditions, quantityConditions } from './compile-number.js';
import { referenceCandidates } from './compile-reference.js';
import { compileString, compileUri } from './compile-string.js';
import { inValueSetConditions, ofTypeConditions, tokenConditions, tokenTextConditions } from './compile-token.js';
import { compositeConditions } from './composite.js';
import { compileNarrative } from './narrative.js';
import { searchParameter } from './search-parameter.js';
import { alternatives, andOf, idxField, orOf, PREFIXES, splitEscaped, type Doc } from './query-doc.js';

/**
 * Compiles a FHIR search (R4 search, https://hl7.org/fhir/R4/search.html) into one MongoDB query
 * document over StoredDocument fields; both engines execute exactly this document. Chained
 * parameters, `_has`, `_list` and `:in` are resolved first by sub-searches through `opts.store`.
 * Client text only ever lands in value positions: operator names come from this code, so
 * `$where`-style injection through parameter values cannot happen.
 *
 * Handling of bad input (R4 search, "Handling Errors"): an unknown parameter, an unsupported
 * modifier or a chain through a non-reference parameter is a 400 under strict handling and is
 * reported in `ignored` otherwise; a malformed value (date, number, prefix, token) is a 400
 * either way, because the client clearly meant that parameter.
 */
export interface CompiledSearch {
  filter: Record<string, unknown>;
  sort: SortKey[];
  /** Parameters that were ignored (lenient handling); reported in the Bundle's OperationOutcome. */
  ignored: string[];
}

/** SearchParameter types this compiler handles; the CapabilityStatement lists only these. */
export const SUPPORTED_SEARCH_TYPES: ReadonlySet<string> = new Set(['string', 'token', 'reference', 'date', 'number', 'quantity', 'uri', 'composite']);

export interface CompileOptions {
  /** `Prefer: handling=strict`: unknown or unsupported parameters are errors, not warnings. */
  strict: boolean;
  /**
   * Where chained parameters, `_has`, `_list` and `:in` ValueSets are looked up. The caller
   * passes the store it may read (the consent-scoped one), so sub-queries see no more than it.
   */
  store: Pick<ResourceStore, 'search' | 'readCurrent'>;
}

/**
 * Most search values one search may hold: every parameter counts its comma-separated
 * alternatives. Each becomes clauses every candidate document is tested against (and chains,
 * sub-searches), so the bound keeps a request's work proportional to something sane rather
 * than to the size of a POST body.
 */
export const MAX_SEARCH_VALUES = 1000;

export async function compileSearch(defs: Definitions, req: SearchRequest, opts: CompileOptions): Promise<CompiledSearch> {
  const compiler = new Compiler(defs, opts);
  const clauses: Doc[] = [];
  let values = 0;
  for (const f of req.filters ?? []) {
    values += splitEscaped(f.value, ',').length;
    if (values > MAX_SEARCH_VALUES) {
      const text = `The search has more than ${MAX_SEARCH_VALUES} parameter values (comma-separated alternatives included); split it into several searches`;
      throw new FhirError('bad-request', text, undefined, [{ severity: 'error', code: 'too-costly', details: { text } }]);
    }
  }
  for (const f of req.filters ?? []) {
    const { key, value } = rawFilter(f);
    // An empty value constrains nothing (e.g. a form field left blank).
    if (value === '') continue;
    const clause = await compiler.compileKey(req.resourceType, key, value);
    if (clause !== undefined) clauses.push(clause);
  }
  const sort = compiler.compileSort(req.resourceType, req.sortRules ?? []);
  return { filter: andOf(clauses), sort, ignored: compiler.ignored };
}

/**
 * The parameter as the client wrote it: `name[:modifier]` and the value with its prefix.
 * `parseSearchQuery` keeps it that way; a request parsed by @medplum/core's parseSearchRequest
 * has modifiers and prefixes split off, and they are put back here.
 */
export function rawFilter(f: Filter): { key: string; value: string } {
  const op = f.operator as string;
  if (op === 'eq') return { key: f.code, value: f.value };
  if (PREFIXES.has(op) || op === 'sw') return { key: f.code, value: `${op}${f.value}` };
  return { key: `${f.code}:${op}`, value: f.value };
}

class Compiler implements KeyCompiler {
  readonly ignored: string[] = [];
  readonly store: Pick<ResourceStore, 'search' | 'readCurrent'>;
  constructor(
    readonly defs: Definitions,
    private readonly opts: CompileOptions,
  ) {
    this.store = opts.store;
  }

  unsupported(message: string, key: string): undefined {
    if (this.opts.strict) throw new FhirError('unknown-parameter', message, key);
    this.ignored.push(message);
    return undefined;
  }

  async compileKey(resourceType: string, key: string, value: string): Promise<Doc | undefined> {
    if (key === '_has' || key.startsWith('_has:')) return compileHas(this, resourceType, key, value);
    if (key.includes('.')) return compileChain(this, resourceType, key, value);
    try {
      return await this.compileLeaf(resourceType, key, value);
    } catch (err) {
      throw nameParameter(err, key);
    }
  }

  private async compileLeaf(resourceType: string, key: string, value: string): Promise<Doc | undefined> {
    const colon = key.indexOf(':');
    const code = colon < 0 ? key : key.slice(0, colon);
    const modifier = colon < 0 ? '' : key.slice(colon + 1);
    switch (code) {
      case '_id':
        return this.compileId(key, modifier, value);
      case '_lastUpdated':
        if (modifier !== '') return this.unsupported(`Modifier ':${modifier}' is not supported on '_lastUpdated'`, key);
        return compileInstant('lastUpdatedMs', value);
      case '_list':
        if (modifier !== '') return this.unsupported(`Modifier ':${modifier}' is not supported on '_list'`, key);
        return compileList(this, resourceType, value);
      case '_text':
        if (modifier !== '' && modifier !== 'contains') return this.unsupported(`Modifier ':${modifier}' is not supported on '_text'`, key);
        return compileNarrative(value);
    }
    const param = searchParameter(this.defs, resourceType, code);
    if (!param) return this.unsupported(`Unknown search parameter '${code}' for ${resourceType}`, key);
    if (modifier === 'missing') return missing(idxField(code), value, key);
    return this.compileParam(resourceType, param, key, modifier, value);
  }

  private async compileParam(resourceType: string, param: SearchParameter, key: string, modifier: string, value: string): Promise<Doc | undefined> {
    const code = param.code as string;
    const field = idxField(code);
    const bad = (): undefined => this.unsupported(`Modifier ':${modifier}' is not supported on '${code}' (${param.type})`, key);
    const each = (conditions: (raw: string) => Doc[], negate = false): Doc =>
      orOf(
        splitEscaped(value, ',').flatMap((raw) => conditions(raw).map((cond) => ({ [field]: cond }))),
        negate,
      );
    switch (param.type) {
      case 'string':
        return modifier === '' || modifier === 'exact' || modifier === 'contains' ? compileString(code, modifier, value) : bad();
      case 'token':
        switch (modifier) {
          case '':
            return each(tokenConditions);
          case 'not':
            // R4: ":not" matches resources without a matching token, including those without the element.
            return each(tokenConditions, true);
          case 'text':
            return each(tokenTextConditions);
          case 'of-type':
            return each(ofTypeConditions);
          case 'in':
          case 'not-in': {
            const conds: Doc[] = [];
            for (const raw of splitEscaped(value, ',')) conds.push(...(await inValueSetConditions(this.store, raw)));
            return orOf(conds.map((cond) => ({ [field]: cond })), modifier === 'not-in');
          }
          default:
            return bad();
        }
      case 'reference': {
        const isType = (t: string): boolean => this.defs.isResourceType(t);
        if (modifier !== '' && modifier !== 'not' && !isType(modifier)) return bad();
        const typeModifier = isType(modifier) ? modifier : undefined;
        const targets = (param.target ?? []) as string[];
        if (typeModifier && targets.length > 0 && !targets.includes(typeModifier)) {
          return this.unsupported(`'${typeModifier}' is not a resource type '${code}' can refer to`, key);
        }
        const refs = [...new Set(splitEscaped(value, ',').flatMap((raw) => referenceCandidates(param, raw, isType, typeModifier)))];
        return orOf([{ [field]: { $in: refs } }], modifier === 'not');
      }
      case 'date':
        return modifier === '' ? each(dateConditions) : bad();
      case 'number':
        return modifier === '' ? each(numberConditions) : bad();
      case 'quantity':
        return modifier === '' ? each(quantityConditions) : bad();
      case 'uri':
        return modifier === '' || modifier === 'below' || modifier === 'above' ? compileUri(code, modifier, value) : bad();
      case 'composite':
        return modifier === '' ? each((raw) => compositeConditions(this.defs, resourceType, param, raw)) : bad();
      default:
        return this.unsupported(`Search parameter '${code}' of type ${param.type} is not supported`, key);
    }
  }

  private compileId(key: string, modifier: string, value: string): Doc | undefined {
    const ids = alternatives(value);
    if (modifier === '') return { id: ids.length === 1 ? ids[0] : { $in: ids } };
    if (modifier === 'not') return { id: { $nin: ids } };
    return this.unsupported(`Modifier ':${modifier}' is not supported on '_id'`, key);
  }

  /** `_sort` (R4 search, https://hl7.org/fhir/R4/search.html#sort): each key maps to the field whose array order MongoDB's rules sort by. */
  compileSort(resourceType: string, rules: ReadonlyArray<{ code: string; descending?: boolean }>): SortKey[] {
    const sort: SortKey[] = [];
    for (const rule of rules) {
      const dir: 1 | -1 = rule.descending ? -1 : 1;
      if (rule.code === '_id') sort.push(['id', dir]);
      else if (rule.code === '_lastUpdated') sort.push(['lastUpdatedMs', dir]);
      else {
        const param = searchParameter(this.defs, resourceType, rule.code);
        const field = param ? sortField(param, dir) : undefined;
        if (field === undefined) this.unsupported(`Cannot sort ${resourceType} by '${rule.code}': not a sortable search parameter`, '_sort');
        else sort.push([field, dir]);
      }
    }
    return sort;
  }
}

/**
 * Index shape → sort field: a date sorts by the start of its earliest range ascending and the
 * end of its latest descending; tokens by code, quantities by value; other types by their values.
 */
function sortField(param: SearchParameter, dir: 1 | -1): string | undefined {
  const field = idxField(param.code as string);
  switch (param.type) {
    case 'date':
      return dir === 1 ? `${field}.lo` : `${field}.hi`;
    case 'token':
      return `${field}.c`;
    case 'quantity':
      return `${field}.v`;
    case 'string':
    case 'reference':
    case 'number':
    case 'uri':
      return field;
    default:
      return undefined;
  }
}

/**
 * A malformed value is reported with the parameter it was given for, keeping the issue code
 * (e.g. not-supported for a ValueSet that cannot be expanded).
 */
function nameParameter(err: unknown, key: string): unknown {
  if (!(err instanceof FhirError) || err.code === 'unknown-parameter') return err;
  const issues = err.issues.map((i) => ({ ...i, details: { text: `Parameter '${key}': ${i.details?.text ?? err.message}` }, expression: [key] }));
  return new FhirError(err.code, `Parameter '${key}': ${err.message}`, key, issues);
}

/** `:missing` (R4 search, https://hl7.org/fhir/R4/search.html#modifiers): true finds resources without any value for the parameter. */
function missing(field: string, value: string, key: string): Doc {
  if (value !== 'true' && value !== 'false') throw new FhirError('bad-request', `':missing' takes true or false, not '${value}'`, key);
  return { [field]: { $exists: value === 'false' } };
}
