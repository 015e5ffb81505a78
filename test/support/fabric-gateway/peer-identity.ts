import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { msp } from '@hyperledger/fabric-protos';
import { signLowS } from './ecdsa.js';

/** The simulated peer's signing identity: it endorses proposals as a real peer would. */
export interface PeerIdentity {
  mspId: string;
  serialized: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export function peerIdentity(mspId: string, certPem: string, keyPem: string): PeerIdentity {
  const cert = new X509Certificate(certPem);
  const key: KeyObject = createPrivateKey(keyPem);
  if (!cert.checkPrivateKey(key)) throw new Error('the peer key does not match the peer certificate');
  const identity = new msp.SerializedIdentity();
  identity.setMspid(mspId);
  identity.setIdBytes(Buffer.from(certPem, 'utf8'));
  const serialized = identity.serializeBinary();
  return { mspId, serialized, sign: (message) => signLowS(key, message) };
}
