import {
  status,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { gateway, peer, type common } from '@hyperledger/fabric-protos';
import { buildProposalResponsePayload, endorse, EnvelopeFormatError, openTransaction, prepareTransaction, type SimulationOutcome } from './envelope.js';
import type { GatewayFaults } from './faults.js';
import { GatewayStatusError, toServiceError, type ErrorDetailInit } from './grpc-errors.js';
import type { Block, SimulatedLedger } from './ledger.js';
import { IdentityError, type MspIdentity, type MspRegistry } from './msp.js';
import type { PeerIdentity } from './peer-identity.js';
import { ProposalFormatError, ProposalRejectedError, readRouting, unpackProposal, validateProposal, type UnpackedProposal } from './proposal.js';
import type { ChaincodeSimulator } from './simulator.js';

export interface GatewayServiceOptions {
  channelId: string;
  chaincodeName: string;
  chaincodeVersion: string;
  msps: MspRegistry;
  peer: PeerIdentity;
  ledger: SimulatedLedger;
  simulate: ChaincodeSimulator;
  faults: GatewayFaults;
  /** The listening address, reported in ErrorDetail.address as the real gateway reports its endpoints. */
  address: () => string;
}

const ORDERER_MSP = 'OrdererMSP';

/**
 * The five gateway.Gateway methods, answering with the status codes, messages and ErrorDetails of
 * Fabric's internal/pkg/gateway for the paths a single-peer, single-orderer channel can take.
 */
export class GatewayService {
  readonly #o: GatewayServiceOptions;
  /** Calls not yet answered, each with a way to end it: what stop() fails before the port closes. */
  readonly #inflight = new Set<(err: GatewayStatusError) => void>();

  constructor(options: GatewayServiceOptions) {
    this.#o = options;
  }

  /**
   * Ends every unanswered call with `err`. A peer that goes down drops its connections and the
   * client reports UNAVAILABLE; ending the calls with that status before closing the port keeps
   * this independent of how the HTTP/2 teardown happens to surface in grpc-js.
   */
  failInflight(err: GatewayStatusError): void {
    for (const fail of [...this.#inflight]) fail(err);
  }

  implementation(): UntypedServiceImplementation {
    return {
      evaluate: this.#unary((request: gateway.EvaluateRequest) => this.evaluate(request)),
      endorse: this.#unary((request: gateway.EndorseRequest) => this.endorse(request)),
      submit: this.#unary((request: gateway.SubmitRequest, signal) => this.submit(request, signal)),
      commitStatus: this.#unary((request: gateway.SignedCommitStatusRequest, signal) => this.commitStatus(request, signal)),
      chaincodeEvents: (call: ServerWritableStream<gateway.SignedChaincodeEventsRequest, gateway.ChaincodeEventsResponse>) =>
        this.chaincodeEvents(call),
    };
  }

  #unary<Req, Res>(handler: (request: Req, signal: AbortSignal) => Promise<Res>) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      // Aborted once the call is over, whoever ended it, so that nothing keeps waiting for it.
      const over = new AbortController();
      const end = (): boolean => {
        if (over.signal.aborted) return false;
        this.#inflight.delete(fail);
        over.abort(new Error('call over'));
        return true;
      };
      const fail = (err: unknown): void => {
        if (end()) callback(toServiceError(err));
      };
      this.#inflight.add(fail);
      call.on('cancelled', end);
      handler(call.request, over.signal).then((response) => {
        if (end()) callback(null, response);
      }, fail);
    };
  }

  #detail(message: string, mspId = this.#o.peer.mspId): ErrorDetailInit {
    return { address: this.#o.address(), mspId, message };
  }

  async evaluate(request: gateway.EvaluateRequest): Promise<gateway.EvaluateResponse> {
    const { channelId, chaincodeName } = this.#route(request.getProposedTransaction(), 'evaluate');
    const targets = request.getTargetOrganizationsList();
    if (chaincodeName !== this.#o.chaincodeName || (targets.length > 0 && !targets.includes(this.#o.peer.mspId))) {
      throw new GatewayStatusError(status.FAILED_PRECONDITION, `no peers available to evaluate chaincode ${chaincodeName} in channel ${channelId}`);
    }
    if (this.#o.faults.takeEvaluateUnavailable()) {
      throw new GatewayStatusError(status.UNAVAILABLE, 'failed to evaluate transaction, see attached details for more info', [
        this.#detail('rpc error: code = Unavailable desc = connection refused (injected fault)'),
      ]);
    }
    const outcome = await this.#processProposal(request.getProposedTransaction()!, (message) => {
      // A peer-side refusal is a client error to the gateway: FailedPrecondition, no retry.
      throw new GatewayStatusError(status.FAILED_PRECONDITION, `evaluate call to endorser returned error: ${message}`, [this.#detail(message)]);
    });
    if (outcome.status < 200 || outcome.status >= 400) {
      const message = `chaincode response ${outcome.status}, ${outcome.message}`;
      throw new GatewayStatusError(status.UNKNOWN, `evaluate call to endorser returned error: ${message}`, [this.#detail(message)]);
    }
    const response = new peer.Response();
    response.setStatus(outcome.status);
    response.setMessage(outcome.message);
    response.setPayload(outcome.payload);
    const result = new gateway.EvaluateResponse();
    result.setResult(response);
    return result;
  }

  async endorse(request: gateway.EndorseRequest): Promise<gateway.EndorseResponse> {
    const signedProposal = request.getProposedTransaction();
    if ((signedProposal?.getProposalBytes_asU8().length ?? 0) === 0) {
      throw new GatewayStatusError(status.INVALID_ARGUMENT, 'the proposed transaction must contain a signed proposal');
    }
    const { chaincodeName } = this.#route(signedProposal, 'endorse');
    const orgs = request.getEndorsingOrganizationsList();
    if (orgs.length > 0) {
      const missing = orgs.filter((org) => org !== this.#o.peer.mspId || chaincodeName !== this.#o.chaincodeName);
      if (missing.length > 0) throw new GatewayStatusError(status.UNAVAILABLE, `failed to find any endorsing peers for org(s): ${missing.join(', ')}`);
    } else if (chaincodeName !== this.#o.chaincodeName) {
      // What discovery answers when no peer of the channel has the chaincode installed.
      throw new GatewayStatusError(
        status.FAILED_PRECONDITION,
        `no combination of peers can be derived which satisfy the endorsement policy: required chaincodes are not installed on sufficient peers`,
      );
    }
    if (this.#o.faults.takeEndorseUnavailable()) {
      throw new GatewayStatusError(status.UNAVAILABLE, 'endorsing peer unavailable (injected fault)', [
        this.#detail('rpc error: code = Unavailable desc = connection refused (injected fault)'),
      ]);
    }
    const aborted = (message: string): never => {
      throw new GatewayStatusError(status.ABORTED, 'failed to endorse transaction, see attached details for more info', [this.#detail(message)]);
    };
    let unpacked: UnpackedProposal | undefined;
    const outcome = await this.#processProposal(signedProposal!, aborted, (up) => (unpacked = up));
    if (outcome.status < 200 || outcome.status >= 400) aborted(`chaincode response ${outcome.status}, ${outcome.message}`);
    const prpBytes = buildProposalResponsePayload(unpacked!, outcome, this.#o.chaincodeVersion);
    const response = new gateway.EndorseResponse();
    response.setPreparedTransaction(prepareTransaction(unpacked!, prpBytes, [endorse(prpBytes, this.#o.peer)]));
    return response;
  }

  async submit(request: gateway.SubmitRequest, signal: AbortSignal): Promise<gateway.SubmitResponse> {
    const envelope = request.getPreparedTransaction();
    if (envelope === undefined) throw new GatewayStatusError(status.INVALID_ARGUMENT, 'a prepared transaction is required');
    if (envelope.getSignature_asU8().length === 0) throw new GatewayStatusError(status.INVALID_ARGUMENT, 'prepared transaction must be signed');
    if (request.getChannelId() !== this.#o.channelId) {
      throw new GatewayStatusError(status.FAILED_PRECONDITION, `failed to get config for channel [${request.getChannelId()}]: channel not found`);
    }
    if (this.#o.faults.takeSubmitUnavailable()) {
      throw new GatewayStatusError(status.UNAVAILABLE, 'no orderers could successfully process transaction', [
        this.#detail('rpc error: code = Unavailable desc = connection refused (injected fault)', ORDERER_MSP),
      ]);
    }
    const hang = this.#o.faults.takeSubmitHang();
    if (hang === undefined || hang.order) this.#broadcast(envelope);
    if (hang !== undefined) await untilAborted(signal);
    return new gateway.SubmitResponse();
  }

  /** The orderer's Broadcast: well-formed, this channel, signed by a channel member; then ordered. */
  #broadcast(envelope: common.Envelope): void {
    const refuse = (ordererStatus: 'BAD_REQUEST' | 'FORBIDDEN' | 'NOT_FOUND'): never => {
      const message = `received unsuccessful response from orderer: ${ordererStatus}`;
      throw new GatewayStatusError(status.ABORTED, message, [this.#detail(`rpc error: code = Aborted desc = ${message}`, ORDERER_MSP)]);
    };
    let opened;
    try {
      opened = openTransaction(envelope);
    } catch (err) {
      if (err instanceof EnvelopeFormatError) return refuse('BAD_REQUEST');
      throw err;
    }
    if (opened.channelId !== this.#o.channelId) refuse('NOT_FOUND');
    try {
      this.#o.msps.authenticate(opened.creator, opened.payloadBytes, opened.signature);
    } catch (err) {
      if (err instanceof IdentityError) refuse('FORBIDDEN');
      throw err;
    }
    this.#o.ledger.order(opened);
  }

  async commitStatus(signed: gateway.SignedCommitStatusRequest, signal: AbortSignal): Promise<gateway.CommitStatusResponse> {
    const bytes = signed.getRequest_asU8();
    if (bytes.length === 0) throw new GatewayStatusError(status.INVALID_ARGUMENT, 'a commit status request is required');
    let request: gateway.CommitStatusRequest;
    try {
      request = gateway.CommitStatusRequest.deserializeBinary(bytes);
    } catch (err) {
      throw new GatewayStatusError(status.INVALID_ARGUMENT, `invalid status request: ${(err as Error).message}`);
    }
    this.#checkReaderAcl(request.getChannelId(), request.getIdentity_asU8(), bytes, signed.getSignature_asU8());
    if (this.#o.faults.takeCommitStatusUnavailable()) {
      throw new GatewayStatusError(status.UNAVAILABLE, 'failed to read the commit status: ledger unavailable (injected fault)');
    }
    const { code, blockNumber } = await this.#o.ledger.waitForStatus(request.getTransactionId(), signal);
    const response = new gateway.CommitStatusResponse();
    response.setResult(code as peer.TxValidationCodeMap[keyof peer.TxValidationCodeMap]);
    response.setBlockNumber(blockNumber);
    return response;
  }

  chaincodeEvents(call: ServerWritableStream<gateway.SignedChaincodeEventsRequest, gateway.ChaincodeEventsResponse>): void {
    const fail = (err: unknown): void => {
      call.emit('error', toServiceError(err));
    };
    let request: gateway.ChaincodeEventsRequest;
    try {
      const bytes = call.request.getRequest_asU8();
      if (bytes.length === 0) throw new GatewayStatusError(status.INVALID_ARGUMENT, 'a chaincode events request is required');
      try {
        request = gateway.ChaincodeEventsRequest.deserializeBinary(bytes);
      } catch (err) {
        throw new GatewayStatusError(status.INVALID_ARGUMENT, `invalid chaincode events request: ${(err as Error).message}`);
      }
      this.#checkReaderAcl(request.getChannelId(), request.getIdentity_asU8(), bytes, call.request.getSignature_asU8());
    } catch (err) {
      return fail(err);
    }
    const { ledger } = this.#o;
    const chaincodeId = request.getChaincodeId();
    const afterTxId = request.getAfterTransactionId();
    let next = afterTxId !== '' ? ledger.blockOf(afterTxId) : undefined;
    if (next === undefined) {
      const position = request.getStartPosition();
      next = position?.hasSpecified() ? position.getSpecified()!.getNumber() : ledger.height;
    }
    // Until the checkpointed transaction has gone by in its block, every event is one already seen.
    let passedAfterTx = afterTxId === '';
    const deliver = (): void => {
      while (next! < ledger.height && !call.cancelled) {
        const block: Block = ledger.blocks[next!]!;
        next! += 1;
        const events: peer.ChaincodeEvent[] = [];
        for (const tx of block.transactions) {
          if (tx.validationCode !== peer.TxValidationCode.VALID || tx.event === undefined) continue;
          if (!passedAfterTx) {
            passedAfterTx = tx.event.txId === afterTxId;
            continue;
          }
          if (tx.event.chaincodeId !== chaincodeId) continue;
          const event = new peer.ChaincodeEvent();
          event.setChaincodeId(tx.event.chaincodeId);
          event.setTxId(tx.event.txId);
          event.setEventName(tx.event.eventName);
          event.setPayload(tx.event.payload);
          events.push(event);
        }
        if (events.length === 0) continue;
        const response = new gateway.ChaincodeEventsResponse();
        response.setBlockNumber(block.number);
        response.setEventsList(events);
        call.write(response);
      }
    };
    const unsubscribe = ledger.onBlock(deliver);
    const stop = (): void => {
      unsubscribe();
      this.#inflight.delete(failStream);
    };
    const failStream = (err: GatewayStatusError): void => {
      stop();
      fail(err);
    };
    this.#inflight.add(failStream);
    call.on('cancelled', stop);
    call.on('finish', stop);
    deliver();
  }

  /** The gateway's unpacking of a proposal for routing: unreadable → InvalidArgument; unknown channel → Unavailable. */
  #route(signedProposal: peer.SignedProposal | undefined, kind: 'evaluate' | 'endorse'): { channelId: string; chaincodeName: string } {
    let routing;
    try {
      routing = readRouting(signedProposal);
    } catch (err) {
      if (!(err instanceof ProposalFormatError)) throw err;
      throw new GatewayStatusError(status.INVALID_ARGUMENT, kind === 'evaluate' ? `failed to unpack transaction proposal: ${err.message}` : err.message);
    }
    if (routing.channelId !== this.#o.channelId) {
      if (kind === 'evaluate') {
        throw new GatewayStatusError(status.UNAVAILABLE, `failed to get config for channel [${routing.channelId}]: channel not found`);
      }
      throw new GatewayStatusError(
        status.FAILED_PRECONDITION,
        `no combination of peers can be derived which satisfy the endorsement policy: channel [${routing.channelId}] not found`,
      );
    }
    return routing;
  }

  /** The endorsing peer's ProcessProposal: unpack, validate (identity, signature, tx id), dedupe, simulate. */
  async #processProposal(
    signedProposal: peer.SignedProposal,
    refuse: (message: string) => never,
    onUnpacked?: (up: UnpackedProposal) => void,
  ): Promise<SimulationOutcome> {
    let up: UnpackedProposal;
    let creator: MspIdentity;
    try {
      up = unpackProposal(signedProposal);
      creator = validateProposal(up, this.#o.msps);
    } catch (err) {
      if (err instanceof ProposalFormatError || err instanceof ProposalRejectedError) return refuse(err.message);
      throw err;
    }
    if (this.#o.ledger.status(up.txId) !== undefined) {
      refuse(`duplicate transaction found [${up.txId}]. Creator [${Buffer.from(up.signatureHeader.getCreator_asU8()).toString('hex')}]`);
    }
    onUnpacked?.(up);
    return this.#o.simulate({
      txId: up.txId,
      timestamp: up.timestamp,
      channelId: up.channelId,
      creator,
      fcn: up.fcn,
      args: up.args,
    });
  }

  /**
   * The gateway's CheckACL for CommitStatus and ChaincodeEvents (policy /Channel/Application/Readers):
   * the identity in the request must be a member of a channel org and have signed the request.
   */
  #checkReaderAcl(channelId: string, identity: Uint8Array, message: Uint8Array, signature: Uint8Array): void {
    const denied = (reason: string): never => {
      throw new GatewayStatusError(
        status.PERMISSION_DENIED,
        `failed evaluating policy on signed data during check policy [/Channel/Application/Readers]: [${reason}]`,
      );
    };
    if (channelId !== this.#o.channelId) denied(`channel [${channelId}] not found`);
    try {
      this.#o.msps.authenticate(identity, message, signature);
    } catch (err) {
      if (!(err instanceof IdentityError)) throw err;
      denied("implicit policy evaluation failed - 0 sub-policies were satisfied, but this policy requires 1 of the 'Readers' sub-policies to be satisfied");
    }
  }
}

function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}
