/**
 * Shifting FHIR date, dateTime and instant values by whole days on their own calendar.
 *
 * The date part moves; the time of day, fractional seconds and zone offset are kept as
 * written, so precision and zone survive and no daylight-saving arithmetic is involved.
 * Partial dates keep their precision: a `YYYY-MM` value becomes the month that holds its
 * 15th after the shift, a `YYYY` value the year that holds its 2 July (the middle), so a
 * partial date moves by the offset on average instead of always staying or always jumping.
 */

const DATE_PREFIX = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(.*))?)?$/s;

/** Days since 1970-01-01 of a proleptic Gregorian date (any year, no Date object). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

/** The inverse of daysFromCivil: [year, month 1-12, day 1-31]. */
export function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const dayOfEra = z - era * 146097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36524) - Math.floor(dayOfEra / 146096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [month <= 2 ? yearOfEra + era * 400 + 1 : yearOfEra + era * 400, month, day];
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));
const pad4 = (n: number): string => String(n).padStart(4, '0');

/**
 * `value` moved by `days`, in the same precision and with the same time and zone; undefined
 * when the value is not a FHIR date/dateTime/instant or would leave years 0001-9999 (the
 * caller drops it: an unparsable date is not passed through unshifted).
 */
export function shiftDateValue(value: string, days: number): string | undefined {
  const m = DATE_PREFIX.exec(value);
  if (!m) return undefined;
  const year = Number(m[1]);
  if (m[2] === undefined) {
    const [y] = civilFromDays(daysFromCivil(year, 7, 2) + days);
    return y >= 1 && y <= 9999 ? pad4(y) : undefined;
  }
  const month = Number(m[2]);
  if (month < 1 || month > 12) return undefined;
  if (m[3] === undefined) {
    const [y, mo] = civilFromDays(daysFromCivil(year, month, 15) + days);
    return y >= 1 && y <= 9999 ? `${pad4(y)}-${pad2(mo)}` : undefined;
  }
  const day = Number(m[3]);
  if (day < 1 || day > 31) return undefined;
  const rest = m[4] as string;
  if (rest !== '' && rest[0] !== 'T') return undefined;
  const [y, mo, d] = civilFromDays(daysFromCivil(year, month, day) + days);
  return y >= 1 && y <= 9999 ? `${pad4(y)}-${pad2(mo)}-${pad2(d)}${rest}` : undefined;
}

/**
 * The oldest age in whole years a person born on `birthDate` (any FHIR date precision) can
 * have on `today`: a partial date is read as its earliest day, so a `1934` birth year counts as
 * 1 January 1934. Undefined when the value is not a date.
 */
export function oldestPossibleAge(birthDate: string, today: Date): number | undefined {
  const m = DATE_PREFIX.exec(birthDate);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = m[2] === undefined ? 1 : Number(m[2]);
  const day = m[3] === undefined ? 1 : Number(m[3]);
  const tm = today.getUTCMonth() + 1;
  const td = today.getUTCDate();
  const beforeBirthday = tm < month || (tm === month && td < day);
  return today.getUTCFullYear() - year - (beforeBirthday ? 1 : 0);
}
