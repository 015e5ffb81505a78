import { normaliseString } from './normalise-string.js';
import { alternatives, escapeRegex, orOf, unescapeValue, type Doc } from './query-doc.js';

/**
 * String parameters (R4 search, https://hl7.org/fhir/R4/search.html#string). The index keeps
 * two fields per parameter: `idx.<code>` holds normalised text (lower case, accents removed) for
 * the default starts-with match and `:contains`; `idx.<code>:exact` holds the text as written,
 * because `:exact` must respect case and accents.
 */
export function compileString(code: string, modifier: string, value: string): Doc {
  const alts = alternatives(value);
  if (modifier === 'exact') return { [`idx.${code}:exact`]: { $in: alts } };
  const anchored = modifier !== 'contains';
  return orOf(alts.map((v) => ({ [`idx.${code}`]: { $regex: `${anchored ? '^' : ''}${escapeRegex(normaliseString(v))}` } })));
}

/** The default (starts-with) match of one value, for a string component of a composite. */
export function stringConditions(raw: string): Doc[] {
  return [{ $regex: `^${escapeRegex(normaliseString(unescapeValue(raw)))}` }];
}

/**
 * Uri parameters (R4 search, https://hl7.org/fhir/R4/search.html#uri): exact by default; `:below` matches uris the value is a prefix
 * of, `:above` uris that are a prefix of the value (at path boundaries).
 */
export function compileUri(code: string, modifier: string, value: string): Doc {
  const field = `idx.${code}`;
  const alts = alternatives(value);
  if (modifier === 'below') return orOf(alts.map((v) => ({ [field]: { $regex: `^${escapeRegex(v)}` } })));
  if (modifier === 'above') return { [field]: { $in: alts.flatMap(ancestors) } };
  return { [field]: { $in: alts } };
}

export function uriConditions(raw: string): Doc[] {
  return [{ $in: [unescapeValue(raw)] }];
}

/** "http://a.org/fhir/ValueSet/x" → itself, "http://a.org/fhir/ValueSet", "http://a.org/fhir", "http://a.org". */
function ancestors(uri: string): string[] {
  const scheme = uri.indexOf('://');
  const firstPathSlash = uri.indexOf('/', scheme < 0 ? 0 : scheme + 3);
  const out = [uri];
  let cut = uri.lastIndexOf('/');
  while (cut > 0 && (firstPathSlash < 0 || cut >= firstPathSlash)) {
    out.push(uri.slice(0, cut));
    cut = uri.lastIndexOf('/', cut - 1);
    if (cut < firstPathSlash) break;
  }
  return out;
}
