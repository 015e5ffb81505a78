import type { DataCategory } from './data-categories.js';
import type { PurposeGroup } from './purpose-groups.js';

/**
 * A FHIR R4 Consent (https://hl7.org/fhir/R4/consent.html) as the consent engine understands
 * it: parse-consent.ts builds this from a Consent that conforms to the Custodian Consent
 * profile (fhir-profiles/StructureDefinition-custodian-consent.json) and refuses anything else,
 * so nothing in a stored Consent is silently ignored. The rules that evaluate it are in
 * evaluate-consent.ts and the README ("Consent rules").
 */
export interface ConsentPolicy {
  /** Consent.id and meta.versionId: the deciding Consent of a decision. */
  readonly id: string;
  readonly versionId: string;
  /** Consent.patient as `Patient/<id>`'s id. */
  readonly patient: string;
  /** Consent.scope: `patient-privacy` governs every purpose group; `research` only research. */
  readonly scope: 'patient-privacy' | 'research';
  /** Consent.status; only `active` consents apply. */
  readonly status: string;
  /** The root provision (a Consent with no provision gets one built from its policyRule). */
  readonly root: Provision;
}

/** A time window in epoch milliseconds, inclusive; either end may be open. */
export interface Window {
  readonly start?: number;
  readonly end?: number;
}

/** Consent.provision (and nested provisions). Every condition present must hold for it to match. */
export interface Provision {
  /** 'provision', 'provision.provision[1]', …: where a decision came from, for explanations. */
  readonly path: string;
  readonly type: 'permit' | 'deny';
  /** provision.period: the provision applies only while now lies in it. */
  readonly period?: Window;
  /** provision.actor.reference, normalised to `Type/id`; empty = any actor. */
  readonly actors: readonly string[];
  /** provision.purpose → the groups it covers; empty = any purpose. */
  readonly purposes: readonly PurposeGroup[];
  /** provision.class, split by what it names; all empty = any class. */
  readonly classes: {
    readonly resourceTypes: readonly string[];
    readonly categories: readonly DataCategory[];
    readonly profiles: readonly string[];
  };
  /** provision.code: codings `system|code`; empty = any. Matches when found anywhere in the resource. */
  readonly codes: readonly string[];
  /** provision.securityLabel as `system|code`; empty = any. */
  readonly securityLabels: readonly string[];
  /** provision.dataPeriod: the resource's clinical date must fall in it. */
  readonly dataPeriod?: Window;
  /** provision.data: `instance` = that resource; `dependents` = it and resources referring to it. */
  readonly data: ReadonlyArray<{ readonly meaning: 'instance' | 'dependents'; readonly reference: string }>;
  readonly children: readonly Provision[];
}
