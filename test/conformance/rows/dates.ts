import { OBS, PAT, type RowTable } from './row.js';

/*
 * date parameters (R4 §3.1.1.4.2 prefixes, §3.1.1.4.3 date). Both the search value and the
 * target are ranges at their precision (Periods are ranges, Timing spans its events). The spec:
 *   eq  the search range fully contains the target range
 *   ne  it does not fully contain it
 *   gt  the range above the search value overlaps the target
 *   lt  the range below the search value overlaps the target
 *   ge  gt, or eq          le  lt, or eq
 *   sa  no overlap, and the target lies above      eb  no overlap, and the target lies below
 *   ap  approximately (server-defined window)
 * Values without a zone are read in the server's zone, which this project fixes to UTC.
 *
 * Observation effective values in the fixture (UTC):
 *   hr-1 2024-03-01T10:00:00   hr-2 2024-03-02T04:30:00 (written 2024-03-01T23:30:00-05:00)
 *   hr-3 2024-03-05T08:00:00   noval 2019-12-31T23:59:59   weight 2020-02-29T10:00:00
 *   glu-1 the day 2023-06-15   glu-2 Period 2023-06-10 … 2023-06-20 (whole days)
 *   bp-1 instant 2022-01-15T08:00:00.000   bp-2 the year 2022
 *   local-sys Period 2021-05-01T00:00:00 … open end   nosys no effective[x]
 */
const HR = [OBS.hr1, OBS.hr2, OBS.hr3];

export const dateRows: RowTable = {
  name: 'date',
  rows: [
    { query: 'Observation?date=2024-03-01', ids: [OBS.hr1], why: 'hr-2 was written 23:30 at -05:00, i.e. 2024-03-02 in UTC' },
    { query: 'Observation?date=2024-03-02', ids: [OBS.hr2] },
    { query: 'Observation?date=2024-03', ids: HR },
    { query: 'Observation?date=2023-06-15', ids: [OBS.glu1], why: 'eq needs containment: the Period 06-10…06-20 of glu-2 only overlaps the day' },
    { query: 'Observation?date=2023-06', ids: [OBS.glu1, OBS.glu2] },
    { query: 'Observation?date=2022-01-15', ids: [OBS.bp1], why: 'bp-2 is the whole year 2022, wider than the searched day' },
    { query: 'Observation?date=2022', ids: [OBS.bp1, OBS.bp2] },
    { query: 'Observation?date=2024-03-01T23:30:00-05:00', ids: [OBS.hr2], why: 'a search value with a zone is an instant range of one second' },
    { query: 'Observation?date=2022-01-15T08:00:00Z', ids: [OBS.bp1], why: 'an instant target inside the searched second' },
    { query: 'Observation?date=2021', ids: [], why: 'the open-ended Period of local-sys starts in 2021 but is not contained in it' },
    { query: 'Observation?date=gt2023-06-15', ids: [...HR, OBS.glu2, OBS.localSys], why: 'glu-2 ends 06-20 and local-sys never ends: both reach above the searched day' },
    { query: 'Observation?date=ge2023-06-15', ids: [...HR, OBS.glu2, OBS.localSys, OBS.glu1] },
    {
      query: 'Observation?date=ge2023-06-20',
      ids: [...HR, OBS.localSys],
      why: 'R4 literally: glu-2 (06-10…06-20) neither reaches above 06-20 nor is contained in it, so ge excludes it. Servers that read ge as "ends at or after" include it',
    },
    { query: 'Observation?date=lt2022-01-15', ids: [OBS.bp2, OBS.weight, OBS.noval, OBS.localSys], why: 'bp-2 (2022) and local-sys (from 2021-05) start below the searched day' },
    { query: 'Observation?date=le2022-01-15', ids: [OBS.bp2, OBS.weight, OBS.noval, OBS.localSys, OBS.bp1] },
    {
      query: 'Observation?date=le2023-06-10',
      ids: [OBS.bp1, OBS.bp2, OBS.weight, OBS.noval, OBS.localSys],
      why: 'mirror of ge2023-06-20: glu-2 starts on 06-10 (not below it) and is not contained in it',
    },
    { query: 'Observation?date=sa2023-06-15', ids: HR, why: 'glu-2 and local-sys start before the searched day ends' },
    { query: 'Observation?date=sa2021', ids: [...HR, OBS.glu1, OBS.glu2, OBS.bp1, OBS.bp2], why: 'bp-2 (2022) starts right after 2021 ends; local-sys starts inside 2021' },
    { query: 'Observation?date=eb2022', ids: [OBS.weight, OBS.noval], why: 'local-sys has no end, so it never ends before anything' },
    { query: 'Observation?date=eb2022-01-15', ids: [OBS.weight, OBS.noval], why: 'bp-2 (2022) overlaps the searched day' },
    { query: 'Observation?date:missing=false&date=ne2023-06', ids: [...HR, OBS.noval, OBS.weight, OBS.bp1, OBS.bp2, OBS.localSys], why: 'glu-1 and glu-2 lie inside June 2023; ne on a missing value is left open by the spec, so nosys is excluded with :missing=false' },
    { query: 'Observation?date:missing=true', ids: [OBS.nosys] },
    { query: 'Observation?date=ge2023-01-01&date=lt2024-01-01', ids: [OBS.glu1, OBS.glu2, OBS.localSys], why: 'the open-ended local-sys both reaches above 2023-01-01 and starts below 2024' },
    { query: 'Observation?date=2022,2020', ids: [OBS.bp1, OBS.bp2, OBS.weight] },
    { query: 'Observation?date=ap2024-03-02', includes: [OBS.hr2], excludes: [OBS.noval, OBS.weight, OBS.bp1, OBS.bp2, OBS.glu1], why: 'ap is server-defined around the value; years away must not match' },

    { query: 'Patient?birthdate=1980', ids: [PAT.muller] },
    { query: 'Patient?birthdate=1992-07', ids: [PAT.chen, PAT.chenoweth] },
    { query: 'Patient?birthdate=1980-06', ids: [], why: 'a birthDate of "1980" covers the whole year, which June 1980 does not contain' },
    { query: 'Patient?birthdate=gt1980-06', ids: [PAT.muller, PAT.chen, PAT.chenoweth, PAT.smith], why: '"1980" reaches past June 1980' },
    { query: 'Patient?birthdate=lt1980-06', ids: [PAT.muller, PAT.mueller], why: '"1980" starts before June 1980' },
    { query: 'Patient?birthdate=sa1979', ids: [PAT.muller, PAT.chen, PAT.chenoweth, PAT.smith] },
    { query: 'Patient?birthdate=eb1980', ids: [PAT.mueller] },
    { query: 'Patient?birthdate:missing=true', ids: [PAT.nodata] },

    // Encounter.period: enc-1 2024-03-01T09:00Z…11:00Z, enc-2 from 2024-02-28, open end.
    { query: 'Encounter?date=2024-03-01', ids: ['enc-1'] },
    { query: 'Encounter?date=ne2024-03-01', ids: ['enc-2'], why: 'the open Period of enc-2 is not contained in the day' },
    { query: 'Encounter?date=gt2024-03-01', ids: ['enc-2'] },
    { query: 'Encounter?date=lt2024-03-01', ids: ['enc-2'] },
    { query: 'Encounter?date=2024', ids: ['enc-1'], why: 'an open-ended Period is never contained in a bounded range' },

    // ServiceRequest.occurrence[x]: sr-1 Timing events 2024-05-01T09:00Z and 2024-05-03T09:00Z,
    // sr-2 dateTime 2024-05-02, sr-3 Period 2024-04-01…2024-04-30.
    { query: 'ServiceRequest?occurrence=2024-05-02', ids: ['sr-2'], why: 'a Timing spans from its first to its last event, which 05-02 does not contain' },
    { query: 'ServiceRequest?occurrence=2024-05', ids: ['sr-1', 'sr-2'] },
    { query: 'ServiceRequest?occurrence=gt2024-05-02', ids: ['sr-1'], why: 'the Timing runs until 05-03' },
    { query: 'ServiceRequest?occurrence=lt2024-05-02', ids: ['sr-1', 'sr-3'], why: 'the Timing starts on 05-01' },
    { query: 'ServiceRequest?occurrence=sa2024-04-30', ids: ['sr-1', 'sr-2'] },
    { query: 'ServiceRequest?occurrence=eb2024-05-01', ids: ['sr-3'] },

    { query: 'Condition?onset-date=2015', ids: ['cond-diab'] },
    { query: 'Condition?onset-date=lt2011', ids: ['cond-hyp'], why: 'onsetPeriod 2010…2012-06-30 starts below 2011' },
    { query: 'Condition?onset-date=2011', ids: [], why: 'the onset Period is wider than 2011' },
    { query: 'ImagingStudy?started=ge2024-01-01', ids: ['img-1'] },
  ],
};
