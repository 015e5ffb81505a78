import { normaliseString } from './normalise-string.js';
import { alternatives, escapeRegex, orOf, type Doc } from './query-doc.js';

/** Where the narrative's text is indexed; `_text` is not a SearchParameter with an expression. */
export const NARRATIVE_FIELD = '_text';

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/**
 * The words of a narrative (`text.div`, XHTML) as one normalised string: tags dropped, entities
 * decoded, whitespace collapsed, lower case without accents.
 */
export function narrativeText(div: string): string {
  const text = div
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
      if (e[0] === '#') {
        const n = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        return Number.isFinite(n) && n > 0 && n <= 0x10ffff ? String.fromCodePoint(n) : m;
      }
      return ENTITIES[e.toLowerCase()] ?? m;
    })
    .replace(/\s+/g, ' ')
    .trim();
  return normaliseString(text);
}

/**
 * `_text` (R4 search, "Text Search Parameters", https://hl7.org/fhir/R4/search.html): resources whose narrative
 * contains the value (case- and accent-insensitive); commas separate alternatives.
 */
export function compileNarrative(value: string): Doc {
  return orOf(alternatives(value).map((v) => ({ [`idx.${NARRATIVE_FIELD}`]: { $regex: escapeRegex(normaliseString(v.trim())) } })));
}
