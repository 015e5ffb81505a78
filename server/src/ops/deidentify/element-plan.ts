import { tryGetDataType, type InternalSchemaElement } from '@medplum/core';
import { DROPPED_PRIMITIVES, DROPPED_TYPES, FREE_TEXT_NAMES, PATH_RULES, SHIFTED_PRIMITIVES } from './safe-harbor-rules.js';

/** What happens to one JSON property of a type. */
export type Action =
  | { readonly kind: 'keep' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'date' }
  | { readonly kind: 'reference' }
  | { readonly kind: 'dicomUid' }
  | { readonly kind: 'node'; readonly type: string }
  | { readonly kind: 'resource'; readonly contained: boolean };

/**
 * JSON property name → action, for one type (resource, data type or backbone element). A
 * property missing from the plan is not part of R4 and is dropped: what is not understood
 * does not leave.
 */
export type Plan = ReadonlyMap<string, Action>;

const KEEP: Action = { kind: 'keep' };
const DROP: Action = { kind: 'drop' };
const DATE: Action = { kind: 'date' };
const REFERENCE: Action = { kind: 'reference' };
const DICOM_UID: Action = { kind: 'dicomUid' };
const ELEMENT: Action = { kind: 'node', type: 'Element' };
const CONTAINED: Action = { kind: 'resource', contained: true };
const RESOURCE: Action = { kind: 'resource', contained: false };

// Plans come from @medplum/core's schema index, a process-wide global filled by
// loadDefinitions, so one cache per process is right.
const plans = new Map<string, Plan>();

/** The plan of `type`; empty (everything dropped) for a type the schema does not know. */
export function planFor(type: string): Plan {
  let plan = plans.get(type);
  if (plan === undefined) {
    plan = buildPlan(type);
    plans.set(type, plan);
  }
  return plan;
}

const isPrimitive = (code: string): boolean => code.length > 0 && code[0] === code[0]?.toLowerCase();
const capitalise = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

function buildPlan(type: string): Plan {
  const schema = tryGetDataType(type);
  const plan = new Map<string, Action>();
  if (!schema) return plan;
  const isResource = schema.kind === 'resource';
  for (const [name, element] of Object.entries(schema.elements)) {
    // A resource's own id is pseudonymised (or kept, when contained) by the walker itself.
    if (isResource && name === 'id') continue;
    const choice = name.endsWith('[x]');
    const stem = choice ? name.slice(0, -3) : name;
    for (const t of choice ? element.type : element.type.slice(0, 1)) {
      const key = choice ? stem + capitalise(t.code) : name;
      const action = actionFor(type, stem, element, t.code);
      plan.set(key, action);
      if (isPrimitive(t.code)) plan.set(`_${key}`, action.kind === 'drop' ? DROP : ELEMENT);
    }
  }
  return plan;
}

function actionFor(owner: string, name: string, element: InternalSchemaElement, code: string): Action {
  const rule = PATH_RULES.get(element.path);
  if (rule === 'drop') return DROP;
  if (rule === 'reference') return REFERENCE;
  if (rule === 'dicomUid') return DICOM_UID;
  if (code === 'Resource') return name === 'contained' ? CONTAINED : RESOURCE;
  if (!isPrimitive(code)) return DROPPED_TYPES.has(code) ? DROP : { kind: 'node', type: code };
  if (SHIFTED_PRIMITIVES.has(code)) return DATE;
  if (DROPPED_PRIMITIVES.has(code)) return DROP;
  if (code === 'string' || code === 'markdown') {
    // An extension's string value is free text of unknown meaning (a mother's maiden name, …).
    if (owner === 'Extension' || FREE_TEXT_NAMES.has(name)) return DROP;
  }
  return KEEP;
}
