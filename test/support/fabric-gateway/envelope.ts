import { createHash } from 'node:crypto';
import { common, peer } from '@hyperledger/fabric-protos';
import { decodeTxReadWriteSet, encodeTxReadWriteSet, type ReadWriteSet } from './rwset.js';
import type { PeerIdentity } from './peer-identity.js';
import type { UnpackedProposal } from './proposal.js';

/** What simulating a proposal produced: the chaincode's response and the effects it would have. */
export interface SimulationOutcome {
  status: number;
  message: string;
  payload: Uint8Array;
  rwset: ReadWriteSet;
  event?: { name: string; payload: Uint8Array };
}

export interface ChaincodeEventRecord {
  chaincodeId: string;
  txId: string;
  eventName: string;
  payload: Uint8Array;
}

/**
 * ProposalResponsePayload{proposal_hash, extension: ChaincodeAction{results, events, response,
 * chaincode_id}}: the bytes every endorser signs and the client later finds its result in.
 */
export function buildProposalResponsePayload(up: UnpackedProposal, outcome: SimulationOutcome, chaincodeVersion: string): Uint8Array {
  const response = new peer.Response();
  response.setStatus(outcome.status);
  response.setMessage(outcome.message);
  response.setPayload(outcome.payload);

  const chaincodeId = new peer.ChaincodeID();
  chaincodeId.setName(up.chaincodeName);
  chaincodeId.setVersion(chaincodeVersion);

  const action = new peer.ChaincodeAction();
  action.setResults(encodeTxReadWriteSet(up.chaincodeName, outcome.rwset));
  if (outcome.event !== undefined) {
    const event = new peer.ChaincodeEvent();
    event.setChaincodeId(up.chaincodeName);
    event.setTxId(up.txId);
    event.setEventName(outcome.event.name);
    event.setPayload(outcome.event.payload);
    action.setEvents(event.serializeBinary());
  }
  action.setResponse(response);
  action.setChaincodeId(chaincodeId);

  const prp = new peer.ProposalResponsePayload();
  prp.setProposalHash(up.proposalHash);
  prp.setExtension$(action.serializeBinary());
  return prp.serializeBinary();
}

/** An endorsement is the peer's signature over (proposal response payload ‖ its own identity). */
export function endorse(prpBytes: Uint8Array, endorser: PeerIdentity): peer.Endorsement {
  const endorsement = new peer.Endorsement();
  endorsement.setEndorser(endorser.serialized);
  endorsement.setSignature(endorser.sign(Buffer.concat([prpBytes, endorser.serialized])));
  return endorsement;
}

/**
 * The unsigned transaction envelope the gateway returns from Endorse (apiutils.go
 * prepareTransaction): the proposal's own header, one action whose payload carries the proposal
 * payload without transient data and the endorsed action.
 */
export function prepareTransaction(up: UnpackedProposal, prpBytes: Uint8Array, endorsements: peer.Endorsement[]): common.Envelope {
  const withoutTransient = new peer.ChaincodeProposalPayload();
  withoutTransient.setInput(up.payload.getInput_asU8());

  const endorsed = new peer.ChaincodeEndorsedAction();
  endorsed.setProposalResponsePayload(prpBytes);
  endorsed.setEndorsementsList(endorsements);

  const actionPayload = new peer.ChaincodeActionPayload();
  actionPayload.setChaincodeProposalPayload(withoutTransient.serializeBinary());
  actionPayload.setAction(endorsed);

  const action = new peer.TransactionAction();
  action.setHeader(up.header.getSignatureHeader_asU8());
  action.setPayload(actionPayload.serializeBinary());

  const transaction = new peer.Transaction();
  transaction.setActionsList([action]);

  const payload = new common.Payload();
  payload.setHeader(up.header);
  payload.setData(transaction.serializeBinary());

  const envelope = new common.Envelope();
  envelope.setPayload(payload.serializeBinary());
  return envelope;
}

export class EnvelopeFormatError extends Error {
  override name = 'EnvelopeFormatError';
}

/** Everything the orderer and the committer need from a submitted transaction envelope. */
export interface OpenedTransaction {
  envelope: common.Envelope;
  payloadBytes: Uint8Array;
  signature: Uint8Array;
  headerType: number;
  channelId: string;
  txId: string;
  epoch: number;
  nonce: Uint8Array;
  creator: Uint8Array;
  /** The hash the endorsers claim to have endorsed ... */
  endorsedProposalHash: Uint8Array;
  /** ... and the hash of the proposal this envelope actually carries. */
  carriedProposalHash: Uint8Array;
  prpBytes: Uint8Array;
  endorsements: Array<{ endorser: Uint8Array; signature: Uint8Array }>;
  chaincodeName: string;
  responseStatus: number;
  rwset: ReadWriteSet;
  event?: ChaincodeEventRecord;
}

function decode<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new EnvelopeFormatError(`error unmarshalling ${what}: ${(err as Error).message}`);
  }
}

export function openTransaction(envelope: common.Envelope): OpenedTransaction {
  const payloadBytes = envelope.getPayload_asU8();
  const payload = decode('Payload', () => common.Payload.deserializeBinary(payloadBytes));
  const header = payload.getHeader();
  if (header === undefined) throw new EnvelopeFormatError('missing header');
  const channelHeader = decode('ChannelHeader', () => common.ChannelHeader.deserializeBinary(header.getChannelHeader_asU8()));
  const signatureHeader = decode('SignatureHeader', () => common.SignatureHeader.deserializeBinary(header.getSignatureHeader_asU8()));
  const transaction = decode('Transaction', () => peer.Transaction.deserializeBinary(payload.getData_asU8()));
  const actions = transaction.getActionsList();
  if (actions.length !== 1) throw new EnvelopeFormatError(`expected exactly one action, found ${actions.length}`);
  const actionPayload = decode('ChaincodeActionPayload', () => peer.ChaincodeActionPayload.deserializeBinary(actions[0]!.getPayload_asU8()));
  const endorsed = actionPayload.getAction();
  if (endorsed === undefined) throw new EnvelopeFormatError('missing endorsed action');
  const prpBytes = endorsed.getProposalResponsePayload_asU8();
  const prp = decode('ProposalResponsePayload', () => peer.ProposalResponsePayload.deserializeBinary(prpBytes));
  const chaincodeAction = decode('ChaincodeAction', () => peer.ChaincodeAction.deserializeBinary(prp.getExtension_asU8()));
  const chaincodeName = chaincodeAction.getChaincodeId()?.getName() ?? '';
  const rwset = decode('TxReadWriteSet', () => decodeTxReadWriteSet(chaincodeAction.getResults_asU8(), chaincodeName));
  const eventBytes = chaincodeAction.getEvents_asU8();
  let event: ChaincodeEventRecord | undefined;
  if (eventBytes.length > 0) {
    const e = decode('ChaincodeEvent', () => peer.ChaincodeEvent.deserializeBinary(eventBytes));
    event = { chaincodeId: e.getChaincodeId(), txId: e.getTxId(), eventName: e.getEventName(), payload: e.getPayload_asU8() };
  }
  const carriedProposalHash = createHash('sha256')
    .update(header.getChannelHeader_asU8())
    .update(header.getSignatureHeader_asU8())
    .update(actionPayload.getChaincodeProposalPayload_asU8())
    .digest();
  return {
    envelope,
    payloadBytes,
    signature: envelope.getSignature_asU8(),
    headerType: channelHeader.getType(),
    channelId: channelHeader.getChannelId(),
    txId: channelHeader.getTxId(),
    epoch: channelHeader.getEpoch(),
    nonce: signatureHeader.getNonce_asU8(),
    creator: signatureHeader.getCreator_asU8(),
    endorsedProposalHash: prp.getProposalHash_asU8(),
    carriedProposalHash,
    prpBytes,
    endorsements: endorsed.getEndorsementsList().map((e) => ({ endorser: e.getEndorser_asU8(), signature: e.getSignature_asU8() })),
    chaincodeName,
    responseStatus: chaincodeAction.getResponse()?.getStatus() ?? 0,
    rwset,
    ...(event === undefined ? {} : { event }),
  };
}
