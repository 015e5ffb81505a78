import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { civilFromDays, daysFromCivil, oldestPossibleAge, shiftDateValue } from '../../server/src/ops/deidentify/date-shift.js';
import { MAX_SHIFT_DAYS, Pseudonyms } from '../../server/src/ops/deidentify/pseudonyms.js';
import { RESTRICTED_ZIP3, generaliseZip } from '../../server/src/ops/deidentify/zip-codes.js';

const DAY_MS = 86_400_000;

describe('shiftDateValue: whole days, same precision, same time and zone', () => {
  const table: Array<[string, number, string]> = [
    ['2022-06-16', 30, '2022-07-16'],
    ['2024-02-28', 1, '2024-02-29'],
    ['2023-02-28', 1, '2023-03-01'],
    ['2022-12-31', 1, '2023-01-01'],
    ['2022-01-01', -1, '2021-12-31'],
    ['2022-06-16T13:35:00Z', -200, '2021-11-28T13:35:00Z'],
    ['2013-05-25T22:23:33-04:00', 10, '2013-06-04T22:23:33-04:00'],
    ['2024-01-02T03:04:05.123+05:30', 365, '2025-01-01T03:04:05.123+05:30'],
    // Partial dates: the month holding the 15th after the shift, the year holding 2 July.
    ['2022-06', 20, '2022-07'],
    ['2022-06', -14, '2022-06'],
    ['2022-06', -15, '2022-05'],
    ['2022', 182, '2022'],
    ['2022', 183, '2023'],
    ['2022', -182, '2022'],
    ['2022', -183, '2021'],
  ];
  for (const [input, days, want] of table) {
    it(`${input} ${days >= 0 ? '+' : ''}${days}d → ${want}`, () => assert.equal(shiftDateValue(input, days), want));
  }

  it('moves every full date by exactly the offset, checked against Date arithmetic', () => {
    for (let d = daysFromCivil(1899, 1, 1); d < daysFromCivil(2101, 1, 1); d += 97) {
      const date = new Date(d * DAY_MS).toISOString().slice(0, 10);
      for (const offset of [-365, -1, 1, 29, 365]) {
        const shifted = shiftDateValue(date, offset) as string;
        assert.equal(Date.parse(shifted) - Date.parse(date), offset * DAY_MS, `${date} ${offset}`);
      }
    }
  });

  it('agrees with itself both ways on the civil calendar', () => {
    for (let d = -800_000; d < 800_000; d += 1_237) {
      const [y, m, day] = civilFromDays(d);
      assert.equal(daysFromCivil(y, m, day), d);
    }
  });

  for (const bad of ['', 'yesterday', '22-01-01', '2022-13-01', '2022-00', '2022-01-00', '2022-01-01 10:00', '0001-01-01']) {
    it(`drops '${bad}' (not a date, or shifted out of range)`, () => assert.equal(shiftDateValue(bad, -5), undefined));
  }
});

describe('oldestPossibleAge: the age a birth date can mean today', () => {
  const today = new Date('2025-06-15T12:00:00Z');
  const table: Array<[string, number]> = [
    ['1935-06-15', 90],
    ['1935-06-16', 89],
    ['1935-06', 90], // earliest possible: 1 June 1935
    ['1935', 90],
    ['1936', 89],
    ['2000-01-01', 25],
  ];
  for (const [birth, age] of table) it(`${birth} → ${age}`, () => assert.equal(oldestPossibleAge(birth, today), age));
});

describe('Pseudonyms: keyed, scoped, valid FHIR ids, offsets never 0', () => {
  const key = new Uint8Array(32).fill(1);

  it('pseudonyms are 22-character FHIR ids, stable in a scope and different across scopes and keys', () => {
    const a = new Pseudonyms(key, 'study-a');
    const a2 = new Pseudonyms(key, 'study-a');
    const b = new Pseudonyms(key, 'study-b');
    const other = new Pseudonyms(new Uint8Array(32).fill(2), 'study-a');
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const p = a.id('Observation', `obs-${i}`);
      assert.match(p, /^[A-Za-z0-9\-.]{22}$/);
      assert.equal(a2.id('Observation', `obs-${i}`), p);
      assert.notEqual(b.id('Observation', `obs-${i}`), p);
      assert.notEqual(other.id('Observation', `obs-${i}`), p);
      seen.add(p);
    }
    assert.equal(seen.size, 2000);
    // The type is part of the input: the same id under two types gives two pseudonyms.
    assert.notEqual(a.id('Patient', 'x'), a.id('Encounter', 'x'));
  });

  it('scope boundaries cannot be shifted into the type or id', () => {
    assert.notEqual(new Pseudonyms(key, 'ab').id('Patient', 'x'), new Pseudonyms(key, 'a').id('bPatient', 'x'));
  });

  it('date offsets are in ±1..365, never 0, spread over both signs, and scoped', () => {
    const a = new Pseudonyms(key, 'study-a');
    const b = new Pseudonyms(key, 'study-b');
    const offsets = Array.from({ length: 500 }, (_, i) => a.offsetDays(`patient-${i}`));
    for (const d of offsets) assert.ok(d !== 0 && Math.abs(d) <= MAX_SHIFT_DAYS && Number.isInteger(d), String(d));
    assert.ok(offsets.some((d) => d < -300) && offsets.some((d) => d > 300));
    assert.ok(new Set(offsets).size > 250);
    const differ = offsets.filter((d, i) => b.offsetDays(`patient-${i}`) !== d).length;
    assert.ok(differ > 490, `only ${differ} of 500 offsets differ across scopes`);
  });

  it('urn:uuid pseudonyms are version-8 UUIDs and DICOM UIDs stay under 64 characters', () => {
    const a = new Pseudonyms(key, 'study-a');
    assert.match(a.uuid('62e03ae7-079c-4eda-9b5a-29440d3a015a'), /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(a.uuid('62E03AE7-079C-4EDA-9B5A-29440D3A015A'), a.uuid('62e03ae7-079c-4eda-9b5a-29440d3a015a'));
    const uid = a.dicomUid('1.2.840.113619.2.55.3.604688119.969.1268071029.320');
    assert.match(uid, /^2\.25\.(0|[1-9][0-9]*)$/);
    assert.ok(uid.length <= 64);
  });

  it('refuses a short key and an empty scope', () => {
    assert.throws(() => new Pseudonyms(new Uint8Array(16), 's'), RangeError);
    assert.throws(() => new Pseudonyms(key, ''), RangeError);
  });
});

describe('generaliseZip: Safe Harbor ZIP rule', () => {
  const table: Array<[string, string | undefined, string | undefined]> = [
    ['02118', 'US', '021'],
    ['02118-1234', 'US', '021'],
    ['021181234', undefined, '021'],
    ['01970', 'USA', '019'],
    ['03601', 'US', '000'], // 036: a restricted prefix
    ['89301', 'US', '000'], // 893
    ['82301', 'United States', '000'], // 823
    ['12345', 'US', '123'],
    ['K1A 0B1', 'CA', undefined],
    ['10115', 'DE', undefined],
    ['021', 'US', undefined],
    ['ABCDE', 'US', undefined],
  ];
  for (const [zip, country, want] of table) it(`${zip} (${country ?? 'no country'}) → ${want ?? 'removed'}`, () => assert.equal(generaliseZip(zip, country), want));

  it('holds the 17 prefixes of the 2000 Census list', () => {
    assert.equal(RESTRICTED_ZIP3.size, 17);
    for (const p of RESTRICTED_ZIP3) assert.equal(generaliseZip(`${p}99`, 'US'), '000');
  });
});
