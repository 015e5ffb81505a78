import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Coding, Meta, Resource } from '@medplum/fhirtypes';
import { inPatientCompartment } from '../auth/compartment.js';
import { collectCodings } from './collect-codings.js';
import {
  CATEGORY_SYSTEM,
  CONFIDENTIALITY_SYSTEM,
  DATA_CATEGORIES,
  RESOURCE_TYPES_SYSTEM,
  codingKey,
  isDataCategory,
  type CodingKey,
  type DataCategory,
} from './data-categories.js';
import type { Labeler } from './labeler.js';

/**
 * Bump when the code below would label the same resource differently with the same files
 * (the fingerprint changes, so stored data is relabelled at the next start).
 */
export const LABELER_FORMAT = 1;

/** The files in fhir-profiles/ the labels are computed from. */
export const LABEL_FILES = Object.freeze({
  codeSystem: 'CodeSystem-custodian-data-category.json',
  conceptMap: 'ConceptMap-custodian-category-to-security-label.json',
  valueSet: (category: string) => `ValueSet-custodian-category-${category}.json`,
});
const VALUE_SET_FILE = /^ValueSet-custodian-category-(.+)\.json$/;
const CANONICAL_BASE = 'https://custodian.example.org/fhir';

/** v3 Confidentiality from least to most restrictive (https://terminology.hl7.org/CodeSystem-v3-Confidentiality.html). */
const CONFIDENTIALITY_ORDER = ['U', 'L', 'M', 'N', 'R', 'V'] as const;

/**
 * R4 ConceptMap equivalence (https://hl7.org/fhir/R4/valueset-concept-map-equivalence.html),
 * source = a category, target = a label. A category implies the labels that mean as much or
 * more than it does; a label puts a resource in the categories that mean as much or more
 * than the label does.
 */
const IMPLIES_LABEL: ReadonlySet<string> = new Set(['equal', 'equivalent', 'wider', 'subsumes']);
const IMPLIES_CATEGORY: ReadonlySet<string> = new Set(['equal', 'equivalent', 'narrower', 'specializes']);

/**
 * Builds the labeling service from the CodeSystem, ValueSets and ConceptMap in `profilesDir`
 * (see their descriptions for the rules). Reads and checks everything once; throws an Error
 * naming the file on anything it cannot use, so a bad mapping stops start-up.
 *
 * Which resources get categories: those whose type is in a Patient compartment (R4
 * CompartmentDefinition "patient") or is listed by type in a category's ValueSet. Other types
 * (Organization, Practitioner, Medication, the conformance resources …) are nobody's record:
 * their categories are the empty set whatever codes they contain — the PHQ-9 Questionnaire or
 * the mental-health ValueSet itself is not mental-health data — and apply() gives them no
 * category tags and no implied labels. The consent engine ignores them.
 */
export function loadLabeler(profilesDir: string): Labeler {
  const files = new Map<string, unknown>();
  const read = (name: string): Record<string, unknown> => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(join(profilesDir, name), 'utf8'));
    } catch (err) {
      throw new Error(`fhir-profiles/${name}: cannot read the labeling mappings: ${(err as Error).message}`, { cause: err });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`fhir-profiles/${name}: not a JSON object`);
    files.set(name, parsed);
    return parsed as Record<string, unknown>;
  };

  const display = readCodeSystem(LABEL_FILES.codeSystem, read(LABEL_FILES.codeSystem));

  const bit = (c: DataCategory): number => 1 << DATA_CATEGORIES.indexOf(c);
  const typeBits = new Map<string, number>();
  const codeBits = new Map<CodingKey, number>();
  for (const category of DATA_CATEGORIES) {
    const name = LABEL_FILES.valueSet(category);
    for (const { system, code } of readValueSet(name, read(name), category)) {
      const map = system === RESOURCE_TYPES_SYSTEM ? typeBits : codeBits;
      const key = system === RESOURCE_TYPES_SYSTEM ? code : codingKey(system, code);
      map.set(key, (map.get(key) ?? 0) | bit(category));
    }
  }
  for (const name of listDir(profilesDir)) {
    const m = VALUE_SET_FILE.exec(name);
    if (m && !isDataCategory(m[1] as string)) throw new Error(`fhir-profiles/${name}: '${m[1]}' is not a code of ${CATEGORY_SYSTEM}`);
  }

  const map = readConceptMap(LABEL_FILES.conceptMap, read(LABEL_FILES.conceptMap));
  const labelBits = new Map<CodingKey, number>();
  for (const [key, categories] of map.labelToCategories) labelBits.set(key, categories.reduce((m, c) => m | bit(c), 0));

  const fingerprint = fingerprintOf(files);
  return new MappedLabeler({ display, typeBits, codeBits, labelBits, implied: map.implied, fingerprint });
}

interface Tables {
  readonly display: ReadonlyMap<DataCategory, string>;
  readonly typeBits: ReadonlyMap<string, number>;
  readonly codeBits: ReadonlyMap<CodingKey, number>;
  readonly labelBits: ReadonlyMap<CodingKey, number>;
  /** Per category, the labels it implies (sensitivity labels and one confidentiality code). */
  readonly implied: ReadonlyMap<DataCategory, readonly Coding[]>;
  readonly fingerprint: string;
}

const CLINICAL_OTHER_BIT = 1 << DATA_CATEGORIES.indexOf('clinical-other');

class MappedLabeler implements Labeler {
  readonly fingerprint: string;
  private readonly labelCache = new Map<number, readonly Coding[]>();

  constructor(private readonly t: Tables) {
    this.fingerprint = t.fingerprint;
  }

  categorize(resource: Resource): ReadonlySet<DataCategory> {
    return setOf(this.bitsOf(resource));
  }

  labelsFor(categories: ReadonlySet<DataCategory>): readonly Coding[] {
    let bits = 0;
    for (const c of categories) bits |= 1 << DATA_CATEGORIES.indexOf(c);
    let labels = this.labelCache.get(bits);
    if (!labels) {
      labels = this.computeLabels(bits);
      this.labelCache.set(bits, labels);
    }
    return labels;
  }

  apply(resource: Resource): Resource {
    const categories = this.categorize(resource);
    const meta: Meta = resource.meta ?? {};
    const tag: Coding[] = (meta.tag ?? []).filter((t) => t.system !== CATEGORY_SYSTEM).map((t) => ({ ...t }));
    for (const c of categories) tag.push({ system: CATEGORY_SYSTEM, code: c, display: this.t.display.get(c) as string });
    const security = mergeSecurity(meta.security ?? [], this.labelsFor(categories));
    const { tag: _tag, security: _security, ...rest } = meta;
    const next: Meta = { ...rest, ...(tag.length > 0 ? { tag } : {}), ...(security.length > 0 ? { security } : {}) };
    const { meta: _meta, ...body } = resource;
    // An empty meta is not valid FHIR JSON: leave it out when nothing is left in it.
    return (Object.keys(next).length > 0 ? { ...body, meta: next } : body) as Resource;
  }

  private bitsOf(resource: Resource): number {
    const type = resource.resourceType;
    const byType = this.t.typeBits.get(type);
    if (byType === undefined && !inPatientCompartment(type)) return 0;
    let bits = byType ?? 0;
    for (const key of collectCodings(resource)) {
      const b = this.t.codeBits.get(key);
      if (b !== undefined) bits |= b;
    }
    for (const s of resource.meta?.security ?? []) {
      if (!s.code) continue;
      const b = this.t.labelBits.get(codingKey(s.system, s.code));
      if (b !== undefined) bits |= b;
    }
    return bits === 0 ? CLINICAL_OTHER_BIT : bits;
  }

  private computeLabels(bits: number): readonly Coding[] {
    const out: Coding[] = [];
    const seen = new Set<CodingKey>();
    let confidentiality: Coding | undefined;
    for (let i = 0; i < DATA_CATEGORIES.length; i++) {
      if ((bits & (1 << i)) === 0) continue;
      for (const label of this.t.implied.get(DATA_CATEGORIES[i] as DataCategory) ?? []) {
        if (label.system === CONFIDENTIALITY_SYSTEM) {
          if (!confidentiality || rank(label.code) > rank(confidentiality.code)) confidentiality = label;
          continue;
        }
        const key = codingKey(label.system, label.code as string);
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(label);
      }
    }
    if (confidentiality) out.push(confidentiality);
    return Object.freeze(out);
  }
}

function setOf(bits: number): Set<DataCategory> {
  const out = new Set<DataCategory>();
  for (let i = 0; i < DATA_CATEGORIES.length; i++) if ((bits & (1 << i)) !== 0) out.add(DATA_CATEGORIES[i] as DataCategory);
  return out;
}

/** Unknown codes rank below U: they never win over a known code. */
function rank(code: string | undefined): number {
  return CONFIDENTIALITY_ORDER.indexOf(code as (typeof CONFIDENTIALITY_ORDER)[number]);
}

/**
 * The client's labels (in their order, duplicates dropped), then the implied ones it lacks,
 * then the single most restrictive confidentiality code among both (the client's on a tie).
 */
function mergeSecurity(client: readonly Coding[], implied: readonly Coding[]): Coding[] {
  const out: Coding[] = [];
  const seen = new Set<CodingKey>();
  let confidentiality: Coding | undefined;
  let confidentialityRank = -2;
  for (const label of [...client, ...implied]) {
    if (label.system === CONFIDENTIALITY_SYSTEM) {
      const r = rank(label.code);
      if (r > confidentialityRank) {
        confidentiality = label;
        confidentialityRank = r;
      }
      continue;
    }
    const key = codingKey(label.system, label.code ?? '');
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ ...label });
  }
  if (confidentiality) out.push({ ...confidentiality });
  return out;
}

// ---- reading the files -------------------------------------------------------------------

function fail(name: string, message: string): never {
  throw new Error(`fhir-profiles/${name}: ${message}`);
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    throw new Error(`Cannot list the labeling mappings in ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

function array(name: string, value: unknown, path: string): unknown[] {
  if (!Array.isArray(value) || value.length === 0) fail(name, `${path} must be a non-empty array`);
  return value;
}

function record(name: string, value: unknown, path: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(name, `${path} must be an object`);
  return value as Record<string, unknown>;
}

function text(name: string, value: unknown, path: string): string {
  if (typeof value !== 'string' || value.trim() === '') fail(name, `${path} must be a non-empty string`);
  return value;
}

/** The CodeSystem's concepts must be exactly DATA_CATEGORIES; returns each one's display. */
function readCodeSystem(name: string, cs: Record<string, unknown>): Map<DataCategory, string> {
  if (cs.resourceType !== 'CodeSystem') fail(name, `expected a CodeSystem, found ${String(cs.resourceType)}`);
  if (cs.url !== CATEGORY_SYSTEM) fail(name, `url must be ${CATEGORY_SYSTEM}`);
  const display = new Map<DataCategory, string>();
  array(name, cs.concept, 'concept').forEach((raw, i) => {
    const c = record(name, raw, `concept[${i}]`);
    const code = text(name, c.code, `concept[${i}].code`);
    if (!isDataCategory(code)) fail(name, `concept[${i}].code '${code}' is not a data category this server knows (data-categories.ts)`);
    if (display.has(code)) fail(name, `concept '${code}' appears twice`);
    display.set(code, text(name, c.display, `concept[${i}].display`));
  });
  const missing = DATA_CATEGORIES.filter((c) => !display.has(c));
  if (missing.length > 0) fail(name, `concepts missing for ${missing.join(', ')}`);
  return display;
}

/** Every (system, code) the category's ValueSet enumerates. Filters and value set imports are refused. */
function readValueSet(name: string, vs: Record<string, unknown>, category: DataCategory): Array<{ system: string; code: string }> {
  if (vs.resourceType !== 'ValueSet') fail(name, `expected a ValueSet, found ${String(vs.resourceType)}`);
  const url = `${CANONICAL_BASE}/ValueSet/custodian-category-${category}`;
  if (vs.url !== url) fail(name, `url must be ${url}`);
  const compose = record(name, vs.compose, 'compose');
  if (compose.exclude !== undefined) fail(name, 'compose.exclude is not supported: list what is included');
  const out: Array<{ system: string; code: string }> = [];
  array(name, compose.include, 'compose.include').forEach((raw, i) => {
    const inc = record(name, raw, `compose.include[${i}]`);
    const at = `compose.include[${i}]`;
    if (inc.filter !== undefined || inc.valueSet !== undefined) fail(name, `${at}: filters and valueSet imports are not supported; list every code (the labeler must know each one)`);
    const system = text(name, inc.system, `${at}.system`);
    array(name, inc.concept, `${at}.concept`).forEach((c, j) => {
      out.push({ system, code: text(name, record(name, c, `${at}.concept[${j}]`).code, `${at}.concept[${j}].code`) });
    });
  });
  return out;
}

interface LabelMap {
  implied: Map<DataCategory, Coding[]>;
  labelToCategories: Map<CodingKey, DataCategory[]>;
}

/**
 * Groups from CATEGORY_SYSTEM to a label system. Targets whose equivalence makes the label at
 * least as wide as the category are implied by it; targets at most as wide put a labelled
 * resource in the category (never for confidentiality codes, which name no topic). The
 * confidentiality group must give every category exactly one code.
 */
function readConceptMap(name: string, cm: Record<string, unknown>): LabelMap {
  if (cm.resourceType !== 'ConceptMap') fail(name, `expected a ConceptMap, found ${String(cm.resourceType)}`);
  const implied = new Map<DataCategory, Coding[]>();
  const labelToCategories = new Map<CodingKey, DataCategory[]>();
  const confidentiality = new Map<DataCategory, string>();
  array(name, cm.group, 'group').forEach((rawGroup, g) => {
    const group = record(name, rawGroup, `group[${g}]`);
    if (group.source !== CATEGORY_SYSTEM) fail(name, `group[${g}].source must be ${CATEGORY_SYSTEM}`);
    const target = text(name, group.target, `group[${g}].target`);
    const isConfidentiality = target === CONFIDENTIALITY_SYSTEM;
    const seen = new Set<string>();
    array(name, group.element, `group[${g}].element`).forEach((rawElement, e) => {
      const at = `group[${g}].element[${e}]`;
      const element = record(name, rawElement, at);
      const category = text(name, element.code, `${at}.code`);
      if (!isDataCategory(category)) fail(name, `${at}.code '${category}' is not a code of ${CATEGORY_SYSTEM}`);
      if (seen.has(category)) fail(name, `${at}: '${category}' appears twice in group[${g}]`);
      seen.add(category);
      array(name, element.target, `${at}.target`).forEach((rawTarget, t) => {
        const tat = `${at}.target[${t}]`;
        const tg = record(name, rawTarget, tat);
        const code = text(name, tg.code, `${tat}.code`);
        const equivalence = text(name, tg.equivalence, `${tat}.equivalence`);
        const forward = IMPLIES_LABEL.has(equivalence);
        const backward = IMPLIES_CATEGORY.has(equivalence);
        if (!forward && !backward) fail(name, `${tat}.equivalence '${equivalence}' relates the label to the category in neither direction`);
        const label: Coding = Object.freeze({ system: target, code, ...(typeof tg.display === 'string' ? { display: tg.display } : {}) });
        if (isConfidentiality) {
          if (rank(code) < 0) fail(name, `${tat}.code '${code}' is not a v3 Confidentiality code (${CONFIDENTIALITY_ORDER.join(', ')})`);
          if (!forward) fail(name, `${tat}: a confidentiality code is implied by a category (equivalence wider), never the reverse`);
          if (confidentiality.has(category)) fail(name, `${at}: '${category}' has more than one confidentiality code`);
          confidentiality.set(category, code);
        } else if (backward) {
          const key = codingKey(target, code);
          labelToCategories.set(key, [...(labelToCategories.get(key) ?? []), category]);
        }
        if (forward) implied.set(category, [...(implied.get(category) ?? []), label]);
      });
    });
  });
  const missing = DATA_CATEGORIES.filter((c) => !confidentiality.has(c));
  if (missing.length > 0) fail(name, `no ${CONFIDENTIALITY_SYSTEM} code for ${missing.join(', ')}`);
  return { implied, labelToCategories };
}

/** sha256 over LABELER_FORMAT and the canonical JSON (RFC 8785 key order) of every file read, by name. */
function fingerprintOf(files: ReadonlyMap<string, unknown>): string {
  const hash = createHash('sha256');
  hash.update(`custodian/labels/v${LABELER_FORMAT}\n`);
  for (const name of [...files.keys()].sort()) hash.update(`${name}\n${canonicalJson(files.get(name))}\n`);
  return hash.digest('hex');
}

/**
 * RFC 8785 (JSON Canonicalization Scheme) for parsed JSON: object keys sorted by UTF-16 code
 * units (the default string sort), no whitespace, strings and numbers as ECMAScript
 * serialises them (which is what RFC 8785 specifies).
 */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const o = value as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}
