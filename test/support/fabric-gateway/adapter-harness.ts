import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { AnchorContract as AnchorChaincode } from '../../../ledger-adapter/chaincode/src/index.js';
import { fabricConfigFromEnv, type FabricConfig } from '../../../ledger-adapter/fabric/fabric-config.js';
import { parseAnchorRecord, type AnchorRecord } from '../../../ledger-adapter/fabric/anchor-records.js';
import type { CheckpointToAnchor } from '../../../ledger-adapter/src/anchor/ledger-port.js';
import { formatCheckpoint } from '../../../ledger-adapter/src/checkpoint/checkpoint.js';
import { signNote } from '../../../ledger-adapter/src/checkpoint/note.js';
import { MerkleLog } from '../../../ledger-adapter/src/log/merkle-log.js';
import { leafHash } from '../../../ledger-adapter/src/merkle/hash.js';
import { leafHashOf, newSalt } from '../../../ledger-adapter/src/merkle/leaf.js';
import { MemoryTree } from '../../../ledger-adapter/src/merkle/memory-tree.js';
import { FABRIC_FIXTURE_DIR, fixtureMsps } from './fixtures.js';
import { startGatewayServer, type GatewayServer, type GatewayServerOptions } from './server.js';

/**
 * What the adapter's integration tests share: the in-process gateway running the project's
 * anchor chaincode, the FABRIC_* environment (and FabricConfig) that points the real adapter at
 * it with the fixture identity of Org1MSP, a real Merkle log with its own Ed25519 key, and ways
 * of reading what the channel holds (world state, blocks).
 */

export const CHANNEL = 'custodian';
export const CHAINCODE = 'custodian-anchor';

/** The in-process gateway with the anchor chaincode on channel `custodian`, chaincode `custodian-anchor`. */
export function startAnchorGateway(options: Partial<GatewayServerOptions> = {}): Promise<GatewayServer> {
  return startGatewayServer({ channel: CHANNEL, chaincodeName: CHAINCODE, contract: () => new AnchorChaincode(), msps: fixtureMsps(), ...options });
}

export interface FabricEnvOptions {
  /** TLS with the fixture CA (the server must run with `tls: true`); default off (loopback). */
  tls?: boolean;
  /** Overrides and additions, e.g. deadlines; an empty string unsets a variable. */
  extra?: Record<string, string>;
}

/**
 * The FABRIC_* variables an operator would set to reach `address` as Org1's user1. Deadlines
 * are short so that a test never waits long on a peer that is away.
 */
export function fabricEnv(address: string, options: FabricEnvOptions = {}): Record<string, string> {
  const fixture = (relative: string) => join(FABRIC_FIXTURE_DIR, relative);
  return {
    FABRIC_PEER_ENDPOINT: address,
    ...(options.tls
      ? // The fixture TLS certificate names localhost and 127.0.0.1; naming an IP as TLS server name draws a Node warning.
        { FABRIC_TLS: 'on', FABRIC_TLS_CA_FILE: fixture('tls/ca-cert.pem'), FABRIC_PEER_HOST_ALIAS: 'localhost' }
      : { FABRIC_TLS: 'off' }),
    FABRIC_MSP_ID: 'Org1MSP',
    FABRIC_CERT_FILE: fixture('org1/user1-cert.pem'),
    FABRIC_KEY_FILE: fixture('org1/user1-key.pem'),
    FABRIC_CHANNEL: CHANNEL,
    FABRIC_CHAINCODE: CHAINCODE,
    FABRIC_EVALUATE_TIMEOUT_MS: '500',
    FABRIC_ENDORSE_TIMEOUT_MS: '500',
    FABRIC_SUBMIT_TIMEOUT_MS: '500',
    FABRIC_COMMIT_STATUS_TIMEOUT_MS: '1000',
    FABRIC_MAX_ATTEMPTS: '4',
    FABRIC_MAX_RERUNS: '3',
    ...options.extra,
  };
}

/** The FabricConfig of fabricEnv, read by the adapter's own fabricConfigFromEnv (files and key checked). */
export function fabricConfigFor(address: string, options: FabricEnvOptions = {}): FabricConfig {
  const config = fabricConfigFromEnv(fabricEnv(address, options));
  if (!config) throw new Error('fabricEnv produced no Fabric configuration');
  return config;
}

/** A real Merkle log (LMDB in `dir`) whose Ed25519 key the test holds, to sign checkpoints of other trees too. */
export class HarnessLog {
  private constructor(
    readonly log: MerkleLog,
    readonly privateKey: KeyObject,
  ) {}

  static async open(dir: string, origin: string): Promise<HarnessLog> {
    const privateKey = generateKeyPairSync('ed25519').privateKey;
    return new HarnessLog(await MerkleLog.open({ dir, origin, privateKey }), privateKey);
  }

  get origin(): string {
    return this.log.origin;
  }

  get verifierKey(): string {
    return this.log.verifierKey;
  }

  get size(): number {
    return this.log.size;
  }

  /** Appends `n` leaves (salted hashes of small records). */
  async grow(n: number): Promise<void> {
    const entries = Array.from({ length: n }, (_, i) => {
      const salt = newSalt();
      const key = `AuditEvent/h-${this.log.size + i}`;
      return { key, salt, leafHash: leafHashOf(salt, { resourceType: 'AuditEvent', id: key, n: this.log.size + i }) };
    });
    await this.log.append(entries);
  }

  /** Grows the log by `n` leaves and signs a checkpoint of it: what the outbox hands the ledger. */
  async next(n: number): Promise<CheckpointToAnchor> {
    await this.grow(n);
    const cp = await this.log.checkpoint();
    return { origin: this.origin, size: cp.size, rootHash: cp.rootHash, note: cp.note, signedAt: cp.signedAt };
  }

  /**
   * A checkpoint of another tree of `size` leaves, signed with this log's key: with the log's own
   * checkpoint of that size, proof that the log equivocated.
   */
  forkedCheckpoint(size: number): CheckpointToAnchor {
    const tree = new MemoryTree();
    for (let i = 0; i < size; i++) tree.append(leafHash(Buffer.from(`fork of ${this.origin} #${i}`)));
    const rootHash = tree.root();
    const note = signNote(formatCheckpoint({ origin: this.origin, size, rootHash }), this.log.keyName, this.privateKey);
    return { origin: this.origin, size, rootHash, note, signedAt: new Date().toISOString() };
  }

  close(): Promise<void> {
    return this.log.close();
  }
}

const hex = (origin: string) => Buffer.from(origin, 'utf8').toString('hex');

/** The anchor records of `origin` in the peer's world state, by size. */
export function anchorsInState(server: GatewayServer, origin: string): AnchorRecord[] {
  return server.state.range(`anchor/${hex(origin)}/`, `anchor/${hex(origin)}0`).map((row) => parseAnchorRecord(JSON.parse(Buffer.from(row.value).toString('utf8'))));
}

/** The latest pointer of `origin` in the world state. */
export function latestInState(server: GatewayServer, origin: string): { size: number; rootHash: string; sequence: number } | undefined {
  const row = server.state.get(`latest/${hex(origin)}`);
  return row && (JSON.parse(Buffer.from(row.value).toString('utf8')) as { size: number; rootHash: string; sequence: number });
}

/** Equivocation evidence of `origin` in the world state. */
export function equivocationsInState(server: GatewayServer, origin: string): Array<Record<string, unknown>> {
  return server.state.range(`equivocation/${hex(origin)}/`, `equivocation/${hex(origin)}0`).map((row) => JSON.parse(Buffer.from(row.value).toString('utf8')) as Record<string, unknown>);
}

export interface CommittedAnchor {
  txId: string;
  size: number;
  blockNumber: number;
}

/** Every transaction of the blocks that committed VALID with an `Anchored` event of `origin`, in block order. */
export function anchoredInBlocks(server: GatewayServer, origin: string): CommittedAnchor[] {
  const out: CommittedAnchor[] = [];
  for (const block of server.blocks) {
    for (const tx of block.transactions) {
      if (tx.validationCodeName !== 'VALID' || tx.event?.eventName !== 'Anchored') continue;
      const record = JSON.parse(Buffer.from(tx.event.payload).toString('utf8')) as { origin: string; size: number };
      if (record.origin === origin) out.push({ txId: tx.txId, size: record.size, blockNumber: block.number });
    }
  }
  return out;
}

/** How each occurrence of `txId` in the blocks was validated, in block order. */
export function validationsOf(server: GatewayServer, txId: string): string[] {
  return server.blocks.flatMap((b) => b.transactions.filter((t) => t.txId === txId).map((t) => t.validationCodeName));
}

type Falsy = undefined | null | false | 0 | '';

/** Polls `probe` until it returns a truthy value, and returns it; fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | Falsy | Promise<T | Falsy>, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export interface CapturedLog {
  level: 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg?: string;
}

/** A logger (warn/info/error) that keeps what it is told. */
export function captureLogger(): { entries: CapturedLog[]; warn(obj: object, msg?: string): void; info(obj: object, msg?: string): void; error(obj: object, msg?: string): void } {
  const entries: CapturedLog[] = [];
  const at = (level: CapturedLog['level']) => (obj: object, msg?: string) => void entries.push({ level, obj: obj as Record<string, unknown>, ...(msg === undefined ? {} : { msg }) });
  return { entries, warn: at('warn'), info: at('info'), error: at('error') };
}
