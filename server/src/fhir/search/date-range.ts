/**
 * The instant range a FHIR date/dateTime/instant covers at its stated precision
 * (R4 search, https://hl7.org/fhir/R4/search.html#date: "2020" covers the whole year). Bounds are inclusive milliseconds.
 * Values without a timezone are taken as UTC, as the spec leaves the zone to the server.
 */
const PATTERN = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

// Module-level rather than a closure in dateRange: every indexed date goes through here, and
// under tsx each closure created per call also pays a `__name` call.
function utc(yy: number, mm: number, dd: number, hh = 0, mn = 0, ss = 0, ms = 0): number {
  const t = new Date(0);
  t.setUTCFullYear(yy, mm, dd);
  t.setUTCHours(hh, mn, ss, ms);
  return t.getTime();
}

export function dateRange(value: string): { lo: number; hi: number } | undefined {
  const m = PATTERN.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  const month = mo ? Number(mo) - 1 : undefined;
  const day = d ? Number(d) : undefined;
  if (month !== undefined && (month < 0 || month > 11)) return undefined;
  if (day !== undefined && (day < 1 || day > 31)) return undefined;
  const offsetMs = tz && tz !== 'Z' ? (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6))) * 60000 : 0;
  if (month === undefined) return { lo: utc(year, 0, 1), hi: utc(year + 1, 0, 1) - 1 };
  if (day === undefined) return { lo: utc(year, month, 1), hi: utc(year, month + 1, 1) - 1 };
  if (h === undefined) {
    const lo = utc(year, month, day);
    if (new Date(lo).getUTCDate() !== day) return undefined;
    return { lo, hi: utc(year, month, day + 1) - 1 };
  }
  const hour = Number(h);
  const minute = Number(mi);
  if (hour > 23 || minute > 59) return undefined;
  if (s === undefined) {
    const lo = utc(year, month, day, hour, minute) - offsetMs;
    return { lo, hi: lo + 60000 - 1 };
  }
  const sec = Number(s);
  if (sec > 60) return undefined;
  if (frac === undefined) {
    const lo = utc(year, month, day, hour, minute, sec) - offsetMs;
    return { lo, hi: lo + 999 };
  }
  const digits = frac.slice(1);
  const ms = Number(digits.slice(0, 3).padEnd(3, '0'));
  const lo = utc(year, month, day, hour, minute, sec, ms) - offsetMs;
  return { lo, hi: digits.length >= 3 ? lo : lo + 10 ** (3 - digits.length) - 1 };
}
