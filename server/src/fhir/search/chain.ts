import type { List } from '@medplum/fhirtypes';
import type { ResourceStore } from '../../store/resource-store.js';
import type { Definitions } from '../definitions.js';
import { FhirError } from '../outcomes.js';
import { alternatives, idxField, type Doc } from './query-doc.js';
import { searchParameter } from './search-parameter.js';

/**
 * Parameters answered by searching other resources first (R4 search: chaining and reverse
 * chaining, https://hl7.org/fhir/R4/search.html#chaining and #has; `_list`, #list).
 * Each runs sub-searches through the store the caller may read (the consent-scoped one), so a
 * chain cannot reveal what a direct search would hide, and turns their results into a plain
 * `$in` over index values or ids that the engines can serve from an index.
 */

/** Most ids one sub-search may contribute; beyond it the search is refused as too costly. */
export const SUBQUERY_LIMIT = 10_000;

/**
 * Most links (`.` chains and `_has:` levels together) one parameter may have. Each link is a
 * sub-search of up to SUBQUERY_LIMIT ids, compiled recursively, so without a bound a long key
 * (a POST form body may hold megabytes) costs unbounded work and exhausts the stack.
 */
export const MAX_CHAIN_LINKS = 16;

const ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** What the chain compilers need from the compiler that calls them. */
export interface KeyCompiler {
  readonly defs: Definitions;
  readonly store: Pick<ResourceStore, 'search' | 'readCurrent'>;
  /** Compiles `key=value` against `resourceType`; undefined when it was ignored (lenient). */
  compileKey(resourceType: string, key: string, value: string): Promise<Doc | undefined>;
  /** Refuses (strict) or records as ignored (lenient) an unknown or unsupported parameter. */
  unsupported(message: string, key: string): undefined;
}

/**
 * `ref[:Type].rest=value`: searches each target type for `rest=value` and keeps resources whose
 * `ref` points at a match. `rest` may itself be chained, to any depth.
 */
export async function compileChain(c: KeyCompiler, resourceType: string, key: string, value: string): Promise<Doc | undefined> {
  checkLinks(key);
  const dot = key.indexOf('.');
  const head = key.slice(0, dot);
  const rest = key.slice(dot + 1);
  const [code = '', typeModifier, extra] = head.split(':');
  const param = searchParameter(c.defs, resourceType, code);
  if (!param) return c.unsupported(`Unknown search parameter '${code}' for ${resourceType} in chain '${key}'`, key);
  if (param.type !== 'reference') return c.unsupported(`Cannot chain '${key}': '${code}' is a ${param.type} parameter and only reference parameters can be chained`, key);
  if (extra !== undefined || rest === '') return c.unsupported(`Invalid chained parameter '${key}'`, key);
  let targets = ((param.target ?? []) as string[]).filter((t) => c.defs.isResourceType(t));
  if (typeModifier !== undefined) {
    if (!c.defs.isResourceType(typeModifier) || (targets.length > 0 && !targets.includes(typeModifier))) {
      return c.unsupported(`'${typeModifier}' is not a resource type '${code}' can refer to (in '${key}')`, key);
    }
    targets = [typeModifier];
  }
  const next = leadingCode(rest);
  const usable = targets.filter((t) => knows(c.defs, t, next));
  if (usable.length === 0) return c.unsupported(`Unknown search parameter '${next}' for ${targets.join(', ') || 'the targets'} of '${code}' in chain '${key}'`, key);
  const refs: string[] = [];
  for (const target of usable) {
    const filter = await c.compileKey(target, rest, value);
    if (filter === undefined) return undefined;
    const found = await c.store.search({ resourceType: target, filter, limit: SUBQUERY_LIMIT + 1, idsOnly: true });
    if (refs.length + found.resources.length > SUBQUERY_LIMIT) throw tooCostly(key);
    for (const r of found.resources) refs.push(`${target}/${r.id}`);
  }
  return { [idxField(code)]: { $in: refs } };
}

/**
 * `_has:Type:ref:rest=value`: resources of this type that some `Type` matching `rest=value`
 * points at through its reference parameter `ref`. `rest` may be another `_has` or a chain.
 */
export async function compileHas(c: KeyCompiler, resourceType: string, key: string, value: string): Promise<Doc | undefined> {
  checkLinks(key);
  const m = /^_has:([A-Za-z]+):([A-Za-z0-9_-]+):(.+)$/.exec(key);
  if (!m) return c.unsupported(`Invalid reverse chain '${key}': expected _has:Type:reference-parameter:parameter`, key);
  const [, type, ref, rest] = m as unknown as [string, string, string, string];
  if (!c.defs.isResourceType(type)) return c.unsupported(`Unknown resource type '${type}' in '${key}'`, key);
  const refParam = searchParameter(c.defs, type, ref);
  if (!refParam) return c.unsupported(`Unknown search parameter '${ref}' for ${type} in '${key}'`, key);
  if (refParam.type !== 'reference') return c.unsupported(`'${ref}' on ${type} is a ${refParam.type} parameter; _has needs a reference parameter (in '${key}')`, key);
  const targets = (refParam.target ?? []) as string[];
  if (targets.length > 0 && !targets.includes(resourceType)) return c.unsupported(`'${type}.${ref}' cannot refer to ${resourceType} (in '${key}')`, key);
  if (!knows(c.defs, type, leadingCode(rest))) return c.unsupported(`Unknown search parameter '${leadingCode(rest)}' for ${type} in '${key}'`, key);
  const filter = await c.compileKey(type, rest, value);
  if (filter === undefined) return undefined;
  const found = await c.store.search({ resourceType: type, filter, limit: SUBQUERY_LIMIT + 1, idsOnly: true, indexFields: [ref] });
  if (found.resources.length > SUBQUERY_LIMIT) throw tooCostly(key);
  const ids = new Set<string>();
  for (const r of found.resources) {
    for (const v of (r.index?.[ref] as unknown[] | undefined) ?? []) {
      const id = typeof v === 'string' ? localId(v, resourceType) : undefined;
      if (id) ids.add(id);
    }
  }
  return { id: { $in: [...ids].sort() } };
}

/** `_list=id` (or `List/id`): the resources of this type a List's entries point at. */
export async function compileList(c: KeyCompiler, resourceType: string, value: string): Promise<Doc> {
  const ids = new Set<string>();
  for (const alt of alternatives(value)) {
    if (alt.startsWith('$')) {
      throw new FhirError('bad-request', `Functional list '${alt}' is not supported; give a List id`, '_list', [
        { severity: 'error', code: 'not-supported', details: { text: `Functional list '${alt}' is not supported; give a List id` }, expression: ['_list'] },
      ]);
    }
    const id = alt.replace(/^List\//, '');
    if (!ID.test(id)) throw new FhirError('bad-request', `Invalid List id '${alt}' in _list`, '_list');
    const list = await c.store.readCurrent('List', id);
    if (!list?.resource || list.deleted) continue;
    for (const entry of (list.resource as List).entry ?? []) {
      if (entry.deleted) continue;
      const ref = entry.item?.reference;
      const local = ref ? localId(ref, resourceType) : undefined;
      if (local) ids.add(local);
    }
  }
  return { id: { $in: [...ids].sort() } };
}

/** The id a reference names when it points at `resourceType` (relative or absolute, versioned or not). */
function localId(reference: string, resourceType: string): string | undefined {
  const unversioned = reference.replace(/\/_history\/[^/]*$/, '');
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(unversioned);
  return m && m[1] === resourceType ? m[2] : undefined;
}

/** The parameter code a (possibly chained or modified) key starts with. */
function leadingCode(key: string): string {
  if (key.startsWith('_has:')) return '_has';
  return key.split(/[.:]/, 1)[0] as string;
}

const COMMON = new Set(['_id', '_lastUpdated', '_has', '_list', '_text']);
function knows(defs: Definitions, type: string, code: string): boolean {
  return COMMON.has(code) || searchParameter(defs, type, code) !== undefined;
}

/** Refuses a key with more than MAX_CHAIN_LINKS links; it only counts, so a huge key costs one pass. */
function checkLinks(key: string): void {
  let links = 0;
  for (let i = key.indexOf('.'); i >= 0; i = key.indexOf('.', i + 1)) links++;
  for (let i = key.indexOf('_has:'); i >= 0; i = key.indexOf('_has:', i + 1)) links++;
  if (links > MAX_CHAIN_LINKS) {
    const text = `'${key.slice(0, 200)}${key.length > 200 ? '…' : ''}' chains through ${links} parameters; at most ${MAX_CHAIN_LINKS} are allowed`;
    throw new FhirError('bad-request', text, key.slice(0, 200), [{ severity: 'error', code: 'too-costly', details: { text }, expression: [key.slice(0, 200)] }]);
  }
}

function tooCostly(key: string): FhirError {
  const text = `'${key}' matches more than ${SUBQUERY_LIMIT} resources in an intermediate search; narrow the chained criteria`;
  return new FhirError('bad-request', text, key, [{ severity: 'error', code: 'too-costly', details: { text }, expression: [key] }]);
}
