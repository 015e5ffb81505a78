import { OBS, PAT, type RowTable } from './row.js';

/*
 * _sort (R4 §3.1.1.5.2): several keys, "-" for descending. Ties are broken by id (issue 3
 * item 3: stable tie-break). Where the spec is silent (ranges, collation) the row says which rule
 * it assumes: a range sorts by its start ascending and by its end descending (the store's
 * documented rule for multi-valued keys), strings sort like they match (case/accent-folded).
 */
export const sortRows: RowTable = {
  name: '_sort',
  rows: [
    { query: 'Patient?birthdate=gt1985&_sort=birthdate', ordered: [PAT.chen, PAT.chenoweth, PAT.smith] },
    { query: 'Patient?birthdate=gt1985&_sort=-birthdate', ordered: [PAT.smith, PAT.chenoweth, PAT.chen] },
    { query: 'Patient?gender:missing=false&_sort=gender,-birthdate', ordered: [PAT.chenoweth, PAT.chen, PAT.muller, PAT.mueller, PAT.smith], why: 'female < male < unknown, then youngest first' },
    { query: 'Patient?family=ch&_sort=-family', ordered: [PAT.chenoweth, PAT.chen] },
    { query: 'Patient?family:missing=false&_sort=family', ordered: [PAT.chen, PAT.chenoweth, PAT.mueller, PAT.muller, PAT.smith], why: 'assumes strings sort case- and accent-folded, as they match (SMITH after muller, Müller as muller)' },
    { query: 'Observation?code=8867-4&_sort=-date', ordered: [OBS.hr3, OBS.hr2, OBS.hr1, OBS.noval] },
    { query: 'Observation?code=8867-4&_sort=date', ordered: [OBS.noval, OBS.hr1, OBS.hr2, OBS.hr3] },
    { query: 'Observation?category=laboratory&date:missing=false&_sort=date', ordered: [OBS.localSys, OBS.glu2, OBS.glu1], why: 'ranges by their start: 2021-05-01, 2023-06-10, 2023-06-15' },
    { query: 'Observation?date=2023-06,2022&_sort=-date', ordered: [OBS.glu2, OBS.glu1, OBS.bp2, OBS.bp1], why: 'ranges by their end: glu-2 ends 06-20; bp-2 (2022) ends after the bp-1 instant' },
    { query: 'Observation?code=8867-4&_sort=status,-date', ordered: [OBS.hr3, OBS.hr2, OBS.hr1, OBS.noval] },
    { query: 'Observation?code=8867-4&_sort=code', ordered: [OBS.hr1, OBS.hr2, OBS.hr3, OBS.noval], why: 'all tie on code: the tie-break is the id' },
    { query: 'Patient?_sort=_id', ordered: [PAT.chen, PAT.chenoweth, PAT.mueller, PAT.muller, PAT.nodata, PAT.smith] },
    { query: 'Patient?_sort=-_id', ordered: [PAT.smith, PAT.nodata, PAT.muller, PAT.mueller, PAT.chenoweth, PAT.chen] },
    { query: 'Organization?_sort=-_lastUpdated,_id', ordered: ['org-delta', 'org-acme', 'org-beta', 'org-comma', 'org-gamma'] },
    { query: 'Observation?value-quantity:missing=false&_sort=value-quantity', ordered: [OBS.glu1, OBS.hr3, OBS.weight, OBS.hr1, OBS.glu2, OBS.localSys, OBS.hr2], why: 'by value; units are not converted' },
    { query: 'RiskAssessment?probability:missing=false&_sort=-probability', ordered: ['ra-3', 'ra-2', 'ra-1', 'ra-4'] },
  ],
};

/** _include / _revinclude (R4 §3.1.1.5.4), with :iterate and `*`. */
export const includeRows: RowTable = {
  name: '_include and _revinclude',
  rows: [
    { query: 'Observation?code=2339-0&_include=Observation:patient', ids: [OBS.glu1, OBS.glu2], included: ['Patient/pat-chen', 'Patient/pat-mueller'] },
    { query: 'Observation?code=2339-0&_include=Observation:subject:Patient', ids: [OBS.glu1, OBS.glu2], included: ['Patient/pat-chen', 'Patient/pat-mueller'] },
    { query: 'Observation?code=2339-0&_include=Observation:subject:Group', ids: [OBS.glu1, OBS.glu2], included: [], why: 'the target type restricts what is included' },
    { query: 'Observation?_id=obs-hr-1&_include=*', ids: [OBS.hr1], included: ['Patient/pat-chen', 'Encounter/enc-1', 'Practitioner/pr-smith'], why: '* follows every reference parameter' },
    { query: 'Observation?_id=obs-hr-1&_include=Observation:patient&_include:iterate=Patient:organization', ids: [OBS.hr1], included: ['Patient/pat-chen', 'Organization/org-acme'] },
    { query: 'Observation?_id=obs-hr-1&_include=Observation:patient&_include=Patient:organization', ids: [OBS.hr1], included: ['Patient/pat-chen'], why: 'without :iterate an _include applies to the matches only' },
    { query: 'Patient?_id=pat-mueller&_include=Patient:organization&_include:iterate=Organization:partof', ids: [PAT.mueller], included: ['Organization/org-beta', 'Organization/org-acme'] },
    { query: 'Patient?_id=pat-chen&_revinclude=Observation:patient', ids: [PAT.chen], included: ['Observation/obs-hr-1', 'Observation/obs-glu-1', 'Observation/obs-bp-2'] },
    { query: 'Patient?_id=pat-chen&_revinclude=Observation:patient&_revinclude=Condition:subject', ids: [PAT.chen], included: ['Observation/obs-hr-1', 'Observation/obs-glu-1', 'Observation/obs-bp-2', 'Condition/cond-diab'] },
    {
      query: 'Organization?_id=org-acme&_revinclude=Patient:organization&_revinclude:iterate=Observation:patient',
      ids: ['org-acme'],
      included: ['Patient/pat-muller', 'Patient/pat-chen', 'Observation/obs-hr-2', 'Observation/obs-bp-1', 'Observation/obs-hr-1', 'Observation/obs-glu-1', 'Observation/obs-bp-2'],
    },
    { query: 'Observation?code=2339-0&_sort=_id&_count=1&_include=Observation:patient', ids: [OBS.glu1], included: ['Patient/pat-chen'], why: 'includes are computed for the page, not the whole result' },
  ],
};
