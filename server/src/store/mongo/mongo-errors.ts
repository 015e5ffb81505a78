import { FhirError } from '../../fhir/outcomes.js';

/**
 * Turns driver failures into FhirErrors so no driver message reaches a client. Classification
 * is duck-typed on the driver's error names, labels and server codes (rather than instanceof)
 * so it is unit-tested without a server and survives duplicated driver copies.
 */

export type DriverErrorKind = 'unavailable' | 'duplicate-key' | 'driver' | 'not-driver';

/** The parts of a driver error the classification reads. */
export interface DriverErrorLike {
  name?: unknown;
  code?: unknown;
  hasErrorLabel?: (label: string) => boolean;
}

/** The deployment is unreachable, electing, shutting down, or our retries ran out of time. */
const UNAVAILABLE_NAMES = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongoTopologyClosedError',
  'MongoNotConnectedError',
  'MongoServerClosedError',
  'MongoClientClosedError',
  'MongoPoolClearedError',
  'MongoWaitQueueTimeoutError',
  'MongoOperationTimeoutError',
  'MongoStalePrimaryError',
]);

const UNAVAILABLE_LABELS = ['TransientTransactionError', 'UnknownTransactionCommitResult', 'RetryableWriteError'];

/** https://github.com/mongodb/mongo/blob/master/src/mongo/base/error_codes.yml */
const UNAVAILABLE_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  50, // MaxTimeMSExpired
  89, // NetworkTimeout
  91, // ShutdownInProgress
  112, // WriteConflict (left over once withTransaction stops retrying)
  189, // PrimarySteppedDown
  251, // NoSuchTransaction
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

export const DUPLICATE_KEY = 11000;

export function classifyDriverError(err: unknown): DriverErrorKind {
  if (typeof err !== 'object' || err === null) return 'not-driver';
  const e = err as DriverErrorLike;
  const name = typeof e.name === 'string' ? e.name : '';
  if (typeof e.hasErrorLabel !== 'function' && !name.startsWith('Mongo')) return 'not-driver';
  if (UNAVAILABLE_NAMES.has(name)) return 'unavailable';
  if (typeof e.hasErrorLabel === 'function' && UNAVAILABLE_LABELS.some((l) => e.hasErrorLabel!(l))) return 'unavailable';
  if (typeof e.code === 'number' && UNAVAILABLE_CODES.has(e.code)) return 'unavailable';
  if (e.code === DUPLICATE_KEY) return 'duplicate-key';
  return 'driver';
}

/**
 * The error to throw for a failure of `operation`. FhirErrors and non-driver errors (bugs in
 * our own code) pass through unchanged; driver errors keep the original as `cause` for logs.
 */
export function toStoreError(err: unknown): unknown {
  const kind = classifyDriverError(err);
  if (kind === 'not-driver' || err instanceof FhirError) return err;
  const mapped =
    kind === 'unavailable'
      ? new FhirError('unavailable', 'Database unavailable')
      : kind === 'duplicate-key'
        ? new FhirError('conflict', 'A concurrent write touched the same resource; retry the request')
        : new FhirError('internal', 'Database error');
  mapped.cause = err;
  return mapped;
}
