import type { Principal } from '../auth/principal.js';
import type { ConsentGate } from '../consent/consent-gate.js';
import type { Labeler } from '../consent/labeler.js';
import type { LedgerServices } from '../ledger/ledger-services.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { Definitions } from './definitions.js';
import type { KeyedLock } from './keyed-lock.js';
import type { CursorCodec } from './search-results/cursor.js';

export interface ServiceOptions {
  readonly defaultPageSize: number;
  readonly maxPageSize: number;
  /** FHIR update-as-create (R4 §3.1.0.4.2): PUT to an unknown id creates it. */
  readonly updateCreate: boolean;
  /** Most resources `_include`/`_revinclude` may add to one search page. */
  readonly maxIncludes: number;
}

/**
 * What every interaction needs. The composition root builds one acting as the server itself;
 * FhirService derives one per request from it, carrying the request's principal and a store
 * scoped to what that principal may reach (auth/scoped-store.ts).
 */
export interface FhirContext {
  /** Who the interaction acts for; consent and audit read it from here. */
  readonly principal: Principal;
  readonly store: ResourceStore;
  readonly defs: Definitions;
  readonly options: ServiceOptions;
  /** Current instant as ISO string; injected so tests can pin time. */
  now(): string;
  /** New logical id for server-assigned ids. */
  newId(): string;
  /** Serialises conditional writes per resource type within this process. */
  readonly conditionalLocks: KeyedLock;
  /** Signs and checks the opaque paging cursors of search results. */
  readonly cursors: CursorCodec;
  /**
   * The labeling service (consent/labeler.ts): every written resource gets its data-category
   * tags and security labels before it is indexed, so `_tag`/`_security` searches see them.
   */
  readonly labeler: Labeler;
  /** The Merkle log and the ledger its checkpoints are anchored in ($verify); absent without a ledger. */
  readonly ledger?: LedgerServices;
  /**
   * The request's consent gate (undefined on the server's own context, whose object still has
   * the key: see FhirService.scopedContext).
   */
  readonly consent?: ConsentGate | undefined;
}
