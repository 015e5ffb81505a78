import { X509Certificate } from 'node:crypto';
import { msp } from '@hyperledger/fabric-protos';
import { verifyLowS } from './ecdsa.js';

/** A creator or endorser identity once its SerializedIdentity has been opened. */
export interface MspIdentity {
  mspId: string;
  certPem: string;
  cert: X509Certificate;
  /** The form fabric-shim's ClientIdentity.getID() gives: x509::<subject DN>::<issuer DN>. */
  id: string;
  serialized: Uint8Array;
}

export class IdentityError extends Error {
  constructor(
    readonly reason: 'malformed' | 'unknown-msp' | 'invalid',
    message: string,
  ) {
    super(message);
    this.name = 'IdentityError';
  }
}

function formatDn(dn: string): string {
  return dn
    .split('\n')
    .map((rdn) => `/${rdn.replaceAll('/', '\\/')}`)
    .join('');
}

/**
 * The channel's MSPs, each reduced to its root CA: enough to deserialize an identity, check it
 * chains to the CA it claims, and verify its signatures, which is what the peer's MSP does for
 * proposals, transactions and the gateway's ACL checks.
 */
export class MspRegistry {
  readonly #roots = new Map<string, X509Certificate>();

  constructor(roots: Readonly<Record<string, string>>) {
    for (const [mspId, pem] of Object.entries(roots)) {
      const root = new X509Certificate(pem);
      if (!root.ca) throw new Error(`the root certificate of ${mspId} is not a CA certificate`);
      this.#roots.set(mspId, root);
    }
  }

  has(mspId: string): boolean {
    return this.#roots.has(mspId);
  }

  get mspIds(): string[] {
    return [...this.#roots.keys()];
  }

  deserialize(serialized: Uint8Array): MspIdentity {
    let identity: msp.SerializedIdentity;
    try {
      identity = msp.SerializedIdentity.deserializeBinary(serialized);
    } catch (err) {
      throw new IdentityError('malformed', `could not deserialize a SerializedIdentity: ${(err as Error).message}`);
    }
    const mspId = identity.getMspid();
    if (!this.#roots.has(mspId)) throw new IdentityError('unknown-msp', `MSP ${mspId} is unknown`);
    const certPem = Buffer.from(identity.getIdBytes_asU8()).toString('utf8');
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certPem);
    } catch (err) {
      throw new IdentityError('malformed', `could not parse the certificate of the identity: ${(err as Error).message}`);
    }
    return { mspId, certPem, cert, id: `x509::${formatDn(cert.subject)}::${formatDn(cert.issuer)}`, serialized };
  }

  /** The certificate must be issued (signed, not merely named) by its MSP's root and be current. */
  validate(identity: MspIdentity, now = new Date()): void {
    const root = this.#roots.get(identity.mspId);
    if (root === undefined) throw new IdentityError('unknown-msp', `MSP ${identity.mspId} is unknown`);
    if (identity.cert.ca) throw new IdentityError('invalid', 'a CA certificate cannot be a signing identity');
    if (!identity.cert.checkIssued(root) || !identity.cert.verify(root.publicKey)) {
      throw new IdentityError('invalid', `the supplied identity is not valid: x509: certificate signed by unknown authority`);
    }
    if (now < new Date(identity.cert.validFrom) || now > new Date(identity.cert.validTo)) {
      throw new IdentityError('invalid', 'the supplied identity is not valid: x509: certificate has expired or is not yet valid');
    }
    const key = identity.cert.publicKey.asymmetricKeyDetails;
    if (identity.cert.publicKey.asymmetricKeyType !== 'ec' || key?.namedCurve !== 'prime256v1') {
      throw new IdentityError('invalid', 'only ECDSA P-256 identities are supported by this simulation');
    }
  }

  verify(identity: MspIdentity, message: Uint8Array, signature: Uint8Array): boolean {
    return verifyLowS(identity.cert.publicKey, message, signature);
  }

  /** deserialize + validate + verify: the "signed by a member of this channel" check. */
  authenticate(serialized: Uint8Array, message: Uint8Array, signature: Uint8Array): MspIdentity {
    const identity = this.deserialize(serialized);
    this.validate(identity);
    if (!this.verify(identity, message, signature)) throw new IdentityError('invalid', 'the signature is not valid');
    return identity;
  }
}
