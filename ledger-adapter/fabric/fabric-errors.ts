import { status as grpcStatus } from '@grpc/grpc-js';
import { REFUSAL_IN_TEXT, type ChaincodeErrorCode } from '../src/anchor/chaincode-refusals.js';

/**
 * What a failure from the Fabric Gateway says, read without trusting its class identity: the
 * errors cross package copies (and the in-process test gateway), so they are recognised by
 * shape and `name` (fabric-gateway 1.11 exports SubmitError as a type only).
 */

export type ChaincodeRefusalCode = ChaincodeErrorCode;

export interface ChaincodeRefusal {
  code: ChaincodeRefusalCode;
  /** The peer's message that carried it. */
  message: string;
  /** `latest=<n>` of OUT_OF_ORDER and STALE_PREVIOUS. */
  latest?: number;
}

/** A gateway failure: a gRPC status code and the messages of the peers or orderers behind it. */
export interface GatewayFailure {
  name: string;
  message: string;
  code: number;
  details: { address?: string; mspId?: string; message: string }[];
  transactionId?: string;
}

export function asGatewayFailure(err: unknown): GatewayFailure | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & { code?: unknown; details?: unknown; transactionId?: unknown };
  if (typeof e.code !== 'number' || !Array.isArray(e.details)) return undefined;
  const details = e.details.filter((d): d is GatewayFailure['details'][number] => typeof d === 'object' && d !== null && typeof (d as { message?: unknown }).message === 'string');
  return { name: e.name, message: e.message, code: e.code, details, ...(typeof e.transactionId === 'string' ? { transactionId: e.transactionId } : {}) };
}


/**
 * The chaincode's refusal inside a gateway failure: endorsement failures carry it in the
 * details ("chaincode response 500, [OUT_OF_ORDER] latest=8"), evaluations in the message.
 */
export function chaincodeRefusalOf(failure: GatewayFailure): ChaincodeRefusal | undefined {
  for (const message of [...failure.details.map((d) => d.message), failure.message]) {
    const m = REFUSAL_IN_TEXT.exec(message);
    if (!m) continue;
    const code = m[1] as ChaincodeRefusalCode;
    const latest = /\blatest=(\d{1,16})\b/.exec(m[2]);
    const n = latest ? Number(latest[1]) : undefined;
    return { code, message, ...(n !== undefined && Number.isSafeInteger(n) ? { latest: n } : {}) };
  }
  return undefined;
}

/**
 * gRPC codes after which the same call may succeed: the peer or orderer was unreachable, busy,
 * slow, or could not gather endorsements (ABORTED without a chaincode refusal: mismatched
 * endorsements, an endorser gone; FAILED_PRECONDITION: no endorsement plan yet, e.g. peers
 * still joining). Everything else (bad request, permission, unknown method) will fail again.
 */
const TRANSIENT_CODES: ReadonlySet<number> = new Set([
  grpcStatus.CANCELLED,
  grpcStatus.UNKNOWN,
  grpcStatus.DEADLINE_EXCEEDED,
  grpcStatus.RESOURCE_EXHAUSTED,
  grpcStatus.FAILED_PRECONDITION,
  grpcStatus.ABORTED,
  grpcStatus.INTERNAL,
  grpcStatus.UNAVAILABLE,
]);

export function isTransientCode(code: number): boolean {
  return TRANSIENT_CODES.has(code);
}

/** The gateway relays an orderer's 4xx status (a malformed or forbidden transaction) as ABORTED: not worth resending. */
const ORDERER_CLIENT_ERROR = /unsuccessful response from orderer: (?:status=)?(BAD_REQUEST|FORBIDDEN|NOT_FOUND|REQUEST_ENTITY_TOO_LARGE)\b/;

export function isOrdererRefusal(failure: GatewayFailure): boolean {
  return [failure.message, ...failure.details.map((d) => d.message)].some((m) => ORDERER_CLIENT_ERROR.test(m));
}

export function grpcCodeName(code: number): string {
  const entry = Object.entries(grpcStatus).find(([, v]) => v === code);
  return entry ? entry[0] : String(code);
}

/** A short description for logs and error messages: code name, message, the first peer messages. */
export function describeFailure(failure: GatewayFailure): string {
  const details = failure.details.slice(0, 3).map((d) => (d.address ? `${d.address}: ${d.message}` : d.message));
  return `${failure.name} ${grpcCodeName(failure.code)}: ${failure.message}${details.length ? ` (${details.join('; ')})` : ''}`;
}

/** A failure as one line: the gateway's code and peer messages when it is one. */
export function describeError(err: unknown): string {
  const f = asGatewayFailure(err);
  if (f) return describeFailure(f);
  return err instanceof Error ? err.message : String(err);
}
