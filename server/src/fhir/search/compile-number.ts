import { FhirError } from '../outcomes.js';
import { splitEscaped, splitPrefix, unescapeValue, type Doc } from './query-doc.js';

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;

/**
 * A number parameter (R4 search, https://hl7.org/fhir/R4/search.html#number) over a
 * `number[]` field. The search value has an implicit precision ("100" covers [99.5, 100.5),
 * "100.00" [99.995, 100.005)); values in resources are exact. Following the number table:
 * eq/ne compare with that range, gt/lt/ge/le with the value itself; sa/eb mean entirely above /
 * below the range; ap is ±10% of the value (never narrower than the precision range).
 * Returns the ORed alternatives for one search value, each an `$elemMatch` so two bounds apply
 * to the same array element.
 */
export function numberConditions(raw: string): Doc[] {
  const { op, value } = splitPrefix(raw, 'number');
  return numericConditions(op, value, 'number').map((c) => ({ $elemMatch: c }));
}

/**
 * A quantity parameter (R4 search, https://hl7.org/fhir/R4/search.html#quantity) over
 * `{v, s?, c?, u?}[]` (value, system, code, unit). `[prefix]number`, `number|system|code`, or
 * `number||code`, where the code is matched against the coded unit or the human unit.
 */
export function quantityConditions(raw: string): Doc[] {
  const parts = splitEscaped(raw, '|').map(unescapeValue);
  if (parts.length !== 1 && parts.length !== 3) {
    throw new FhirError('bad-request', `Invalid quantity '${raw}' (expected [prefix]number, number|system|code or number||code)`);
  }
  const { op, value } = splitPrefix(parts[0] as string, 'quantity');
  const system = parts[1] ?? '';
  const code = parts[2] ?? '';
  const units: Doc[] = code === '' ? [{}] : system === '' ? [{ c: code }, { u: code }] : [{ c: code }];
  const out: Doc[] = [];
  for (const v of numericConditions(op, value, 'quantity')) {
    for (const unit of units) out.push({ $elemMatch: { v, ...(system ? { s: system } : {}), ...unit } });
  }
  return out;
}

/** Conditions on one number (ORed), for the prefix `op`. */
export function numericConditions(op: string, raw: string, what: string): Doc[] {
  if (!NUMBER.test(raw.trim())) throw new FhirError('bad-request', `Invalid ${what} '${raw}'`);
  const n = Number(raw);
  const half = 0.5 * 10 ** -significantDecimals(raw.trim());
  const lo = n - half;
  const hi = n + half;
  switch (op) {
    case 'eq':
      return [{ $gte: lo, $lt: hi }];
    case 'ne':
      return [{ $lt: lo }, { $gte: hi }];
    case 'gt':
      return [{ $gt: n }];
    case 'lt':
      return [{ $lt: n }];
    case 'ge':
      return [{ $gte: n }];
    case 'le':
      return [{ $lte: n }];
    case 'sa':
      return [{ $gte: hi }];
    case 'eb':
      return [{ $lt: lo }];
    default: {
      const w = Math.max(Math.abs(n) * 0.1, half);
      return [{ $gte: n - w, $lte: n + w }];
    }
  }
}

/** Decimal places the value states, counting an exponent: "1.50" → 2, "1.5e2" → -1. */
function significantDecimals(raw: string): number {
  const [mantissa = '', exponent] = raw.toLowerCase().split('e');
  const dot = mantissa.indexOf('.');
  const decimals = dot < 0 ? 0 : mantissa.length - dot - 1;
  return decimals - (exponent ? Number(exponent) : 0);
}
