import { createHash } from 'node:crypto';
import { common, peer } from '@hyperledger/fabric-protos';
import { IdentityError, type MspIdentity, type MspRegistry } from './msp.js';

/** What a peer extracts from a SignedProposal before it runs anything (core/endorser UnpackProposal). */
export interface UnpackedProposal {
  signedProposal: peer.SignedProposal;
  header: common.Header;
  channelHeader: common.ChannelHeader;
  signatureHeader: common.SignatureHeader;
  payload: peer.ChaincodeProposalPayload;
  channelId: string;
  txId: string;
  /** From the ChaincodeHeaderExtension, as the endorser routes on it. */
  chaincodeName: string;
  /** args[0] of the ChaincodeInput: the transaction function ("contract:Name" or "Name"). */
  fcn: string;
  args: string[];
  timestamp: Date;
  /** SHA-256(channel header ‖ signature header ‖ ChaincodeProposalPayload without transient data). */
  proposalHash: Uint8Array;
}

/** The gateway could not even read the request: InvalidArgument territory. */
export class ProposalFormatError extends Error {
  override name = 'ProposalFormatError';
}

/** The endorsing peer refused the proposal (preProcess): the message is the peer's own wording. */
export class ProposalRejectedError extends Error {
  override name = 'ProposalRejectedError';
}

function parse<T>(what: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    throw new ProposalFormatError(`error unmarshalling ${what}: ${(err as Error).message}`);
  }
}

export function computeTxId(nonce: Uint8Array, creator: Uint8Array): string {
  return createHash('sha256').update(nonce).update(creator).digest('hex');
}

/**
 * The routing facts the gateway reads before choosing endorsers (evaluate.go
 * getChannelAndChaincodeFromSignedProposal): channel and the invocation spec's chaincode name.
 */
export function readRouting(signedProposal: peer.SignedProposal | undefined): { channelId: string; chaincodeName: string } {
  const proposalBytes = signedProposal?.getProposalBytes_asU8() ?? new Uint8Array();
  if (proposalBytes.length === 0) throw new ProposalFormatError('a signed proposal is required');
  const proposal = parse('Proposal', () => peer.Proposal.deserializeBinary(proposalBytes));
  const header = parse('Header', () => common.Header.deserializeBinary(proposal.getHeader_asU8()));
  const channelHeader = parse('ChannelHeader', () => common.ChannelHeader.deserializeBinary(header.getChannelHeader_asU8()));
  const payload = parse('ChaincodeProposalPayload', () => peer.ChaincodeProposalPayload.deserializeBinary(proposal.getPayload_asU8()));
  const spec = parse('ChaincodeInvocationSpec', () => peer.ChaincodeInvocationSpec.deserializeBinary(payload.getInput_asU8()));
  const channelId = channelHeader.getChannelId();
  if (channelId.length === 0) throw new ProposalFormatError('no channel id provided');
  const chaincodeSpec = spec.getChaincodeSpec();
  if (chaincodeSpec === undefined) throw new ProposalFormatError(`no chaincode spec is provided, channel id [${channelId}]`);
  const chaincodeId = chaincodeSpec.getChaincodeId();
  if (chaincodeId === undefined) throw new ProposalFormatError(`no chaincode id is provided, channel id [${channelId}]`);
  if (chaincodeId.getName().length === 0) throw new ProposalFormatError(`no chaincode name is provided, channel id [${channelId}]`);
  return { channelId, chaincodeName: chaincodeId.getName() };
}

export function unpackProposal(signedProposal: peer.SignedProposal): UnpackedProposal {
  const proposal = parse('Proposal', () => peer.Proposal.deserializeBinary(signedProposal.getProposalBytes_asU8()));
  const header = parse('Header', () => common.Header.deserializeBinary(proposal.getHeader_asU8()));
  const channelHeader = parse('ChannelHeader', () => common.ChannelHeader.deserializeBinary(header.getChannelHeader_asU8()));
  const signatureHeader = parse('SignatureHeader', () => common.SignatureHeader.deserializeBinary(header.getSignatureHeader_asU8()));
  const extension = parse('ChaincodeHeaderExtension', () =>
    peer.ChaincodeHeaderExtension.deserializeBinary(channelHeader.getExtension_asU8()),
  );
  const chaincodeName = extension.getChaincodeId()?.getName() ?? '';
  if (chaincodeName === '') throw new ProposalFormatError('ChaincodeHeaderExtension.ChaincodeId.Name is empty');
  const payload = parse('ChaincodeProposalPayload', () => peer.ChaincodeProposalPayload.deserializeBinary(proposal.getPayload_asU8()));
  const spec = parse('ChaincodeInvocationSpec', () => peer.ChaincodeInvocationSpec.deserializeBinary(payload.getInput_asU8()));
  const input = spec.getChaincodeSpec()?.getInput();
  if (input === undefined) throw new ProposalFormatError('chaincode input did not contain any input');
  const rawArgs = input.getArgsList_asU8();
  if (rawArgs.length === 0) throw new ProposalFormatError('chaincode input did not name a function');
  const [fcn, ...args] = rawArgs.map((arg) => Buffer.from(arg).toString('utf8'));

  // Transient data never reaches the transaction, so it is not part of what endorsers sign for.
  const withoutTransient = new peer.ChaincodeProposalPayload();
  withoutTransient.setInput(payload.getInput_asU8());
  const proposalHash = createHash('sha256')
    .update(header.getChannelHeader_asU8())
    .update(header.getSignatureHeader_asU8())
    .update(withoutTransient.serializeBinary())
    .digest();

  const stamp = channelHeader.getTimestamp();
  const timestamp = stamp === undefined ? new Date(0) : new Date(stamp.getSeconds() * 1000 + Math.floor(stamp.getNanos() / 1e6));
  return {
    signedProposal,
    header,
    channelHeader,
    signatureHeader,
    payload,
    channelId: channelHeader.getChannelId(),
    txId: channelHeader.getTxId(),
    chaincodeName,
    fcn: fcn!,
    args,
    timestamp,
    proposalHash,
  };
}

/**
 * The endorser's proposal validation (core/endorser msgvalidation.go Validate), with its error
 * wording, prefixed as preProcess prefixes it.
 */
export function validateProposal(up: UnpackedProposal, msps: MspRegistry): MspIdentity {
  const reject = (message: string): never => {
    throw new ProposalRejectedError(`error validating proposal: ${message}`);
  };
  const type = up.channelHeader.getType();
  if (type !== common.HeaderType.ENDORSER_TRANSACTION) reject(`invalid header type ${type}`);
  if (up.channelHeader.getEpoch() !== 0) reject('epoch is non-zero');
  const nonce = up.signatureHeader.getNonce_asU8();
  const creator = up.signatureHeader.getCreator_asU8();
  if (nonce.length === 0) reject('nonce is empty');
  if (creator.length === 0) reject('creator is empty');
  const expectedTxId = computeTxId(nonce, creator);
  if (up.txId !== expectedTxId) reject(`incorrectly computed txid '${up.txId}' -- expected '${expectedTxId}'`);
  const signature = up.signedProposal.getSignature_asU8();
  if (signature.length === 0) reject('empty signature bytes');

  let identity: MspIdentity;
  try {
    identity = msps.deserialize(creator);
  } catch {
    return reject(`access denied: channel [${up.channelId}] creator org unknown, creator is malformed`);
  }
  // The peer hides why (bad chain, expired, bad signature) from the caller and logs it instead.
  const denied = `access denied: channel [${up.channelId}] creator org [${identity.mspId}]`;
  try {
    msps.validate(identity);
  } catch (err) {
    if (err instanceof IdentityError) reject(denied);
    throw err;
  }
  if (!msps.verify(identity, up.signedProposal.getProposalBytes_asU8(), signature)) reject(denied);
  return identity;
}
