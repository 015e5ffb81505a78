import { OBS, type RowTable } from './row.js';

/*
 * number (R4 §3.1.1.4.1) and quantity (§3.1.1.4.6) parameters. A search number has an implicit
 * range from its significant figures: "0.7" is [0.65, 0.75), "0.70" is [0.695, 0.705). Stored
 * values are taken as exact. gt/lt are only used where the reading of "the range above the
 * search value" (above the number or above its implicit range) does not change the answer.
 *
 * RiskAssessment probabilities: ra-1 0.25, ra-2 0.7, ra-3 0.72, ra-4 0.2, ra-5 none.
 * Observation valueQuantity: hr-1 72 /min, hr-2 110 /min, hr-3 65 /min, weight 70 kg,
 * glu-1 5.4 mmol/L, glu-2 99 mg/dL, local-sys 100.2 kg (all UCUM); bp-1/bp-2 have components only.
 */
export const numberRows: RowTable = {
  name: 'number',
  rows: [
    { query: 'RiskAssessment?probability=0.7', ids: ['ra-2', 'ra-3'], why: 'implicit precision: 0.72 lies in [0.65, 0.75)' },
    { query: 'RiskAssessment?probability=0.70', ids: ['ra-2'], why: 'implicit precision: [0.695, 0.705) excludes 0.72' },
    { query: 'RiskAssessment?probability=gt0.5', ids: ['ra-2', 'ra-3'] },
    { query: 'RiskAssessment?probability=lt0.25', ids: ['ra-4'] },
    { query: 'RiskAssessment?probability=le0.25', ids: ['ra-4', 'ra-1'] },
    { query: 'RiskAssessment?probability=ge0.72', ids: ['ra-3'] },
    { query: 'RiskAssessment?probability:missing=false&probability=ne0.7', ids: ['ra-1', 'ra-4'], why: 'ne0.7 excludes everything in [0.65, 0.75), so 0.72 too' },
    { query: 'RiskAssessment?probability=ap0.7', includes: ['ra-2', 'ra-3'], excludes: ['ra-1', 'ra-4'], why: 'ap: about 10% either side' },
    { query: 'RiskAssessment?probability=0.2,0.25', ids: ['ra-1', 'ra-4'] },
    { query: 'RiskAssessment?probability:missing=true', ids: ['ra-5'] },
  ],
};

export const quantityRows: RowTable = {
  name: 'quantity',
  rows: [
    { query: 'Observation?value-quantity=72', ids: [OBS.hr1] },
    { query: 'Observation?value-quantity=70', ids: [OBS.weight], why: '72 is outside [69.5, 70.5)' },
    { query: 'Observation?value-quantity=100', ids: [OBS.localSys], why: 'implicit precision: 100.2 lies in [99.5, 100.5); 99 does not' },
    { query: 'Observation?value-quantity=100.0', ids: [], why: 'implicit precision: [99.95, 100.05) excludes 100.2' },
    { query: 'Observation?value-quantity=gt105', ids: [OBS.hr2] },
    { query: 'Observation?value-quantity=lt6', ids: [OBS.glu1] },
    { query: 'Observation?value-quantity=le65', ids: [OBS.glu1, OBS.hr3] },
    { query: 'Observation?value-quantity=ge110', ids: [OBS.hr2] },
    { query: 'Observation?value-quantity=ge100|http://unitsofmeasure.org|kg', ids: [OBS.localSys], why: '100.2 kg is within the implicit range of 100 (and above it); 70 kg is neither' },
    { query: 'Observation?value-quantity=5.4|http://unitsofmeasure.org|mmol/L', ids: [OBS.glu1] },
    { query: 'Observation?value-quantity=99||mg/dL', ids: [OBS.glu2], why: 'number||code matches the unit code in any system' },
    { query: 'Observation?value-quantity=99|http://unitsofmeasure.org|mmol/L', ids: [], why: 'right number, wrong unit' },
    { query: 'Observation?value-quantity=lt100|http://unitsofmeasure.org|/min', ids: [OBS.hr1, OBS.hr3], why: 'the weight (70 kg) is below 100 but in another unit' },
    { query: 'Observation?value-quantity=ap72', includes: [OBS.hr1, OBS.weight], excludes: [OBS.hr2, OBS.glu1, OBS.glu2, OBS.localSys], why: 'ap: about 10% either side of 72' },
    { query: 'Observation?value-quantity:missing=true', ids: [OBS.bp1, OBS.bp2, OBS.nosys, OBS.noval], why: 'panels carry values in components; nosys has a valueString' },
    { query: 'Observation?value-quantity:missing=false&value-quantity=ne72', ids: [OBS.hr2, OBS.hr3, OBS.weight, OBS.glu1, OBS.glu2, OBS.localSys] },
  ],
};

/** composite parameters (R4 §3.1.1.4.9): components joined with `$`, matched within one element. */
export const compositeRows: RowTable = {
  name: 'composite',
  rows: [
    { query: 'Observation?code-value-quantity=http://loinc.org|8867-4$gt100', ids: [OBS.hr2] },
    { query: 'Observation?code-value-quantity=8867-4$72', ids: [OBS.hr1] },
    { query: 'Observation?code-value-quantity=2339-0$72', ids: [], why: 'both parts must hold for the same Observation: 72 is a heart rate' },
    { query: 'Observation?component-code-value-quantity=http://loinc.org|8480-6$gt130', ids: [OBS.bp2] },
    { query: 'Observation?component-code-value-quantity=8462-4$lt90', ids: [OBS.bp1], why: "bp-2's diastolic is 95" },
    { query: 'Observation?component-code-value-quantity=8480-6$80', ids: [], why: 'both parts must hold for the same component: 80 is the diastolic value of bp-1, its systolic is 120' },
    { query: 'Observation?combo-code-value-quantity=8867-4$65', ids: [OBS.hr3], why: 'combo covers Observation.code/value' },
    { query: 'Observation?combo-code-value-quantity=8480-6$150', ids: [OBS.bp2], why: 'combo covers components' },
    { query: 'Observation?code-value-string=local-1$pos', ids: [OBS.nosys], why: 'the string part is a starts-with match' },
  ],
};
