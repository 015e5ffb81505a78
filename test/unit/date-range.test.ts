import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dateRange } from '../../server/src/fhir/search/date-range.js';

const ms = (iso: string) => Date.parse(iso);

describe('dateRange: the instants a FHIR date covers at its precision', () => {
  const table: Array<[string, string, string]> = [
    ['2020', '2020-01-01T00:00:00.000Z', '2020-12-31T23:59:59.999Z'],
    ['2020-02', '2020-02-01T00:00:00.000Z', '2020-02-29T23:59:59.999Z'],
    ['2021-02-28', '2021-02-28T00:00:00.000Z', '2021-02-28T23:59:59.999Z'],
    ['2020-03-04T10:15', '2020-03-04T10:15:00.000Z', '2020-03-04T10:15:59.999Z'],
    ['2020-03-04T10:15:30Z', '2020-03-04T10:15:30.000Z', '2020-03-04T10:15:30.999Z'],
    ['2020-03-04T10:15:30+02:00', '2020-03-04T08:15:30.000Z', '2020-03-04T08:15:30.999Z'],
    ['2020-03-04T10:15:30.5Z', '2020-03-04T10:15:30.500Z', '2020-03-04T10:15:30.599Z'],
    ['2020-03-04T10:15:30.123Z', '2020-03-04T10:15:30.123Z', '2020-03-04T10:15:30.123Z'],
    ['0001', '0001-01-01T00:00:00.000Z', '0001-12-31T23:59:59.999Z'],
  ];
  for (const [input, lo, hi] of table) {
    it(input, () => assert.deepEqual(dateRange(input), { lo: ms(lo), hi: ms(hi) }));
  }
  for (const bad of ['', '20', '2020-13', '2020-02-30', '2020-01-01T25:00', 'yesterday', '2020-01-01T10:00:00+2']) {
    it(`rejects '${bad}'`, () => assert.equal(dateRange(bad), undefined));
  }
});
