import type { ValueSet, ValueSetComposeInclude, ValueSetExpansionContains } from '@medplum/fhirtypes';
import type { ResourceStore } from '../../store/resource-store.js';
import { FhirError } from '../outcomes.js';
import { parseLocalReference } from '../local-reference.js';

/**
 * The codes a ValueSet selects from one code system: some enumerated codes, or every code of
 * the system except some. A code without a system is kept under the system ''.
 */
export type SystemCodes = { all: false; codes: Set<string> } | { all: true; except: Set<string> };
export type CodeSet = Map<string, SystemCodes>;

type Reader = Pick<ResourceStore, 'search' | 'readCurrent'>;

/**
 * The codes of a ValueSet held by this server, for the token modifiers `:in` / `:not-in`
 * (R4 search, https://hl7.org/fhir/R4/search.html#token). The value names the ValueSet by
 * canonical URL (optionally `|version`) or as a local reference `ValueSet/id`. Codes come from
 * `expansion.contains` when the ValueSet carries an expansion; otherwise from `compose`:
 * enumerated concepts, whole code systems (an include with a system and no concepts selects
 * every code of it, which a query can express without expanding it), and included ValueSets
 * (recursively), minus `compose.exclude`. A filter-based include cannot be evaluated here and
 * is refused rather than silently matching less.
 */
export async function valueSetCodes(store: Reader, ref: string): Promise<CodeSet> {
  return expand(store, ref, new Set(), new Map());
}

/**
 * `seen`: the ValueSets being expanded on the way here (a cycle is an error). `done`: every
 * ValueSet already expanded in this call, so one included from many places (a diamond) is
 * read and expanded once, not once per path (exponentially many). Results are never mutated.
 */
async function expand(store: Reader, ref: string, seen: Set<string>, done: Map<string, CodeSet>): Promise<CodeSet> {
  if (seen.has(ref)) throw new FhirError('bad-request', `ValueSet '${ref}' includes itself`);
  const known = done.get(ref);
  if (known) return known;
  seen.add(ref);
  const codes = await expandOnce(store, ref, seen, done);
  done.set(ref, codes);
  return codes;
}

async function expandOnce(store: Reader, ref: string, seen: Set<string>, done: Map<string, CodeSet>): Promise<CodeSet> {
  const vs = await findValueSet(store, ref);
  if (vs.expansion?.contains) {
    const out: CodeSet = new Map();
    addContains(out, vs.expansion.contains);
    return out;
  }
  const include = vs.compose?.include ?? [];
  if (include.length === 0) throw new FhirError('bad-request', `ValueSet '${ref}' has neither an expansion nor a compose.include`);
  let out: CodeSet = new Map();
  for (const inc of include) out = union(out, await includeCodes(store, ref, inc, seen, done));
  for (const exc of vs.compose?.exclude ?? []) out = subtract(out, await includeCodes(store, ref, exc, seen, done));
  return out;
}

async function includeCodes(store: Reader, ref: string, inc: ValueSetComposeInclude, seen: Set<string>, done: Map<string, CodeSet>): Promise<CodeSet> {
  if (inc.filter && inc.filter.length > 0) {
    const text = `ValueSet '${ref}' selects codes with a filter (${inc.filter.map((f) => `${f.property} ${f.op} ${f.value}`).join(', ')}), which this server cannot evaluate for :in/:not-in`;
    throw new FhirError('bad-request', text, undefined, [{ severity: 'error', code: 'not-supported', details: { text } }]);
  }
  let fromSystem: CodeSet | undefined;
  if (inc.system) {
    const codes: SystemCodes =
      inc.concept && inc.concept.length > 0 ? { all: false, codes: new Set(inc.concept.map((c) => c.code)) } : { all: true, except: new Set() };
    fromSystem = new Map([[inc.system, codes]]);
  }
  let fromSets: CodeSet | undefined;
  for (const url of inc.valueSet ?? []) {
    const codes = await expand(store, url, new Set(seen), done);
    // Several valueSets (and a system) in one include are intersected (R4 ValueSet.compose.include).
    fromSets = fromSets ? intersect(fromSets, codes) : codes;
  }
  if (fromSystem && fromSets) return intersect(fromSystem, fromSets);
  return fromSystem ?? fromSets ?? new Map();
}

async function findValueSet(store: Reader, ref: string): Promise<ValueSet> {
  const local = parseLocalReference(ref);
  if (local?.type === 'ValueSet' && local.versionId === undefined) {
    const v = await store.readCurrent('ValueSet', local.id);
    if (v?.resource && !v.deleted) return v.resource as ValueSet;
  } else {
    const bar = ref.indexOf('|');
    const url = bar < 0 ? ref : ref.slice(0, bar);
    const version = bar < 0 ? undefined : ref.slice(bar + 1);
    const filter: Record<string, unknown> = { 'idx.url': url };
    if (version) filter['idx.version'] = { $elemMatch: { c: version } };
    const found = await store.search({ resourceType: 'ValueSet', filter, limit: 1 });
    const vs = found.resources[0]?.resource;
    if (vs) return vs as ValueSet;
  }
  throw new FhirError('bad-request', `ValueSet '${ref}' is not held by this server`);
}

function addContains(out: CodeSet, contains: ValueSetExpansionContains[]): void {
  for (const c of contains) {
    if (c.code && !c.abstract) {
      const system = c.system ?? '';
      const have = out.get(system);
      if (have && !have.all) have.codes.add(c.code);
      else if (!have) out.set(system, { all: false, codes: new Set([c.code]) });
    }
    if (c.contains) addContains(out, c.contains);
  }
}

function union(a: CodeSet, b: CodeSet): CodeSet {
  const out: CodeSet = new Map(a);
  for (const [system, y] of b) {
    const x = out.get(system);
    if (!x) out.set(system, y);
    else if (!x.all && !y.all) out.set(system, { all: false, codes: new Set([...x.codes, ...y.codes]) });
    else if (x.all && y.all) out.set(system, { all: true, except: new Set([...x.except].filter((c) => y.except.has(c))) });
    else {
      const all = (x.all ? x : y) as { all: true; except: Set<string> };
      const some = (x.all ? y : x) as { all: false; codes: Set<string> };
      out.set(system, { all: true, except: new Set([...all.except].filter((c) => !some.codes.has(c))) });
    }
  }
  return out;
}

function subtract(a: CodeSet, b: CodeSet): CodeSet {
  const out: CodeSet = new Map(a);
  for (const [system, y] of b) {
    const x = out.get(system);
    if (!x) continue;
    if (y.all) {
      // Everything of the system except y.except is removed: what stays is x ∩ y.except.
      const kept = x.all ? [...y.except].filter((c) => !x.except.has(c)) : [...x.codes].filter((c) => y.except.has(c));
      if (kept.length > 0) out.set(system, { all: false, codes: new Set(kept) });
      else out.delete(system);
    } else if (x.all) out.set(system, { all: true, except: new Set([...x.except, ...y.codes]) });
    else out.set(system, { all: false, codes: new Set([...x.codes].filter((c) => !y.codes.has(c))) });
  }
  return out;
}

function intersect(a: CodeSet, b: CodeSet): CodeSet {
  const out: CodeSet = new Map();
  for (const [system, x] of a) {
    const y = b.get(system);
    if (!y) continue;
    if (x.all && y.all) out.set(system, { all: true, except: new Set([...x.except, ...y.except]) });
    else if (!x.all && !y.all) out.set(system, { all: false, codes: new Set([...x.codes].filter((c) => y.codes.has(c))) });
    else {
      const all = (x.all ? x : y) as { all: true; except: Set<string> };
      const some = (x.all ? y : x) as { all: false; codes: Set<string> };
      out.set(system, { all: false, codes: new Set([...some.codes].filter((c) => !all.except.has(c))) });
    }
  }
  return out;
}
