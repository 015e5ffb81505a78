import { Metadata, status, type ServerErrorResponse } from '@grpc/grpc-js';
import { gateway, google } from '@hyperledger/fabric-protos';

export interface ErrorDetailInit {
  address: string;
  mspId: string;
  message: string;
}

/**
 * An error a handler throws to end its call with a gRPC status. Details travel the way the Go
 * gateway's status.WithDetails sends them: a google.rpc.Status in the `grpc-status-details-bin`
 * trailer whose details are Any-packed gateway.ErrorDetail messages, which is where the
 * fabric-gateway client reads EndorseError/SubmitError `details` from.
 */
export class GatewayStatusError extends Error {
  constructor(
    readonly code: status,
    message: string,
    readonly details: readonly ErrorDetailInit[] = [],
  ) {
    super(message);
    this.name = 'GatewayStatusError';
  }

  toServiceError(): ServerErrorResponse {
    const metadata = new Metadata();
    if (this.details.length > 0) {
      const rpcStatus = new google.rpc.Status();
      rpcStatus.setCode(this.code);
      rpcStatus.setMessage(this.message);
      for (const detail of this.details) {
        const errorDetail = new gateway.ErrorDetail();
        errorDetail.setAddress(detail.address);
        errorDetail.setMspId(detail.mspId);
        errorDetail.setMessage(detail.message);
        const any = rpcStatus.addDetails();
        any.setTypeUrl('type.googleapis.com/gateway.ErrorDetail');
        any.setValue(errorDetail.serializeBinary());
      }
      metadata.set('grpc-status-details-bin', Buffer.from(rpcStatus.serializeBinary()));
    }
    return Object.assign(new Error(this.message), { code: this.code, details: this.message, metadata });
  }
}

export function toServiceError(err: unknown): ServerErrorResponse {
  if (err instanceof GatewayStatusError) return err.toServiceError();
  // A bug in the simulation must not look like a Fabric answer: INTERNAL is a code no gateway path sends.
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return Object.assign(new Error(message), { code: status.INTERNAL, details: `gateway simulation failed: ${message}` });
}
