import { AGE_CAP_YEARS, UCUM } from './safe-harbor-rules.js';

/** UCUM time units an Age may be written in, as years. */
const YEARS_PER_UNIT: Readonly<Record<string, number>> = {
  a: 1,
  mo: 1 / 12,
  wk: 7 / 365.25,
  d: 1 / 365.25,
  h: 1 / (365.25 * 24),
  min: 1 / (365.25 * 24 * 60),
};

type QuantityJson = Record<string, unknown>;

function years(q: QuantityJson, anyTimeUnit: boolean): number | undefined {
  if (q.system !== UCUM || typeof q.code !== 'string' || typeof q.value !== 'number') return undefined;
  const factor = anyTimeUnit ? YEARS_PER_UNIT[q.code] : q.code === 'a' ? 1 : undefined;
  return factor === undefined ? undefined : q.value * factor;
}

/**
 * Safe Harbor (C): an age of 90 years or more becomes "90 or more": value 90 in years with
 * comparator `>=`. `anyTimeUnit` is set for the Age type (an age in months is still an age);
 * a plain Quantity is read as an age only when its unit is UCUM `a`.
 */
export function capAge(q: QuantityJson, anyTimeUnit: boolean): QuantityJson {
  const y = years(q, anyTimeUnit);
  if (y === undefined || y < AGE_CAP_YEARS) return q;
  const capped: QuantityJson = { ...q, value: AGE_CAP_YEARS, comparator: '>=', code: 'a' };
  if (q.code !== 'a') capped.unit = 'a';
  return capped;
}

/**
 * Range bounds are SimpleQuantity, which has no comparator. A bound capped by capAge is made
 * open instead: a capped low bound becomes 90 and the high bound goes ("90 and over"); a
 * capped high bound goes ("from low upwards").
 */
export function capAgeRange(range: QuantityJson): QuantityJson {
  const low = range.low as QuantityJson | undefined;
  const high = range.high as QuantityJson | undefined;
  const lowCapped = low?.comparator === '>=';
  const highCapped = high?.comparator === '>=';
  if (!lowCapped && !highCapped) return range;
  const out: QuantityJson = { ...range };
  if (lowCapped) {
    const bound: QuantityJson = { ...(low as QuantityJson) };
    delete bound.comparator;
    out.low = bound;
  }
  delete out.high;
  return out;
}
