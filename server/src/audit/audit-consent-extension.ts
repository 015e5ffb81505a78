import type { Extension } from '@medplum/fhirtypes';
import { CONSENT_DECISION_EXTENSION, CONSENT_DECISION_PARTS } from './audit-codes.js';
import type { AuditedAccess } from './build-audit-event.js';

/**
 * The consent-decision extension of an AuditEvent
 * (fhir-profiles/StructureDefinition-custodian-audit-consent-decision.json): decision, mode,
 * the deciding Consent versions (de-duplicated, sorted) and the purpose group, in that order.
 * The decision is the request's: AuditedAccess does not say which patient's Consent decided
 * what, so every event of a request carries the same extension.
 */
export function consentDecisionExtension(consent: NonNullable<AuditedAccess['consent']>): Extension {
  const deciding = [...new Set(consent.deciding ?? [])].filter((r) => r !== '').sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const parts: Extension[] = [
    { url: CONSENT_DECISION_PARTS.decision, valueCode: consent.decision },
    { url: CONSENT_DECISION_PARTS.mode, valueCode: consent.mode },
    ...deciding.map((reference): Extension => ({ url: CONSENT_DECISION_PARTS.deciding, valueReference: { reference } })),
  ];
  if (consent.purposeGroup) parts.push({ url: CONSENT_DECISION_PARTS.purposeGroup, valueCode: consent.purposeGroup });
  return { url: CONSENT_DECISION_EXTENSION, extension: parts };
}
