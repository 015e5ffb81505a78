import type { KeyObject } from 'node:crypto';
import { open } from 'node:fs/promises';
import { EMBEDDED_PROOF_FORMAT, parseSignedEntry, type EmbeddedAnchorProof, type SignedAnchorEntry } from '../../../ledger-adapter/src/anchor/anchor-entry.js';
import { AnchorChainVerifier } from '../../../ledger-adapter/src/anchor/anchor-verify.js';
import { EmbeddedAnchor } from '../../../ledger-adapter/src/anchor/embedded-anchor.js';
import type { AnchorReceipt, LedgerPort } from '../../../ledger-adapter/src/anchor/ledger-port.js';
import { openCheckpoint } from '../../../ledger-adapter/src/checkpoint/checkpoint.js';
import type { MerkleLog, StoredLeaf } from '../../../ledger-adapter/src/log/merkle-log.js';
import { toBase64 } from '../../../ledger-adapter/src/merkle/base64.js';
import { appendLeaf, frontierRoot, type Frontier } from '../../../ledger-adapter/src/merkle/frontier.js';
import { bytesEqual } from '../../../ledger-adapter/src/merkle/hash.js';
import { leafHashOf } from '../../../ledger-adapter/src/merkle/leaf.js';
import type { ResourceStore, StoredVersion } from '../store/resource-store.js';
import { leafRecordOf, parseVersionKey, versionKey } from './leaf-record.js';

/**
 * The full audit (issue 6 §5): recomputes every leaf from the store and checks the whole Merkle
 * log against the anchored checkpoints, reporting every difference as a finding.
 *
 * Three passes, each O(n) time and, apart from the findings, O(log n) memory:
 *
 * 1. The anchor chain (embedded ledger): every entry's hash, link, sequence and signature
 *    (the adapter's AnchorChainVerifier, streamed from the file).
 * 2. The log, leaf by leaf: the root is folded from the stored leaf hashes themselves (complete
 *    subtrees kept on the right edge, ledger-adapter/src/merkle/frontier.ts), never from the
 *    stored nodes, and compared with the root of every anchored checkpoint as the fold reaches
 *    its size; each leaf must be where the log's key index says, after the previous version of
 *    its resource, and describe a version the store still holds. Each anchored checkpoint must
 *    be the one the log stored and signed with its key; at the latest one the stored nodes must
 *    give the anchored root too (what proofs are served from).
 * 3. The store, version by version (every type's history): each version must have a leaf, and
 *    its latest leaf must hash to what the stored version recomputes to.
 *
 * What it trusts: the log's verifier key and the anchor's public key, by default those of the
 * data directory's own key files; pass the published ones (FullAuditOptions) to also catch a
 * replaced key. Run it on a quiescent store (server stopped): versions written while it runs
 * may be seen without their leaf.
 */

export type AuditFindingKind =
  /** A stored version whose recomputed leaf differs from its latest leaf. */
  | 'modified'
  /** A leaf whose version is no longer in the store. */
  | 'deleted'
  /** A stored version with no leaf at all. */
  | 'inserted'
  /** Leaves out of order: not where the key index has them, a version before its predecessor, or leaves that no longer hash to an anchored root. */
  | 'reordered'
  /** The log is smaller than the latest anchored checkpoint. */
  | 'log-truncated'
  /** An anchored checkpoint the log does not hold as anchored (stored nodes give another root, the stored signed checkpoint differs or does not verify). */
  | 'checkpoint-mismatch'
  /** The embedded anchor chain does not verify, or is missing. */
  | 'anchor-chain'
  /** A part of the ledger that cannot be read (a leaf record missing or malformed, a log that does not open). */
  | 'unreadable'
  /** Informational: leaves appended after the latest anchored checkpoint. */
  | 'unanchored';

export interface AuditFinding {
  kind: AuditFindingKind;
  /** The version concerned, `Type/id/_history/vid`, when the finding is about one. */
  key?: string;
  /** The leaf concerned (its index in the log). */
  leafIndex?: number;
  /** The tree size concerned (an anchored checkpoint's). */
  size?: number;
  /** A range of leaves [from, to). */
  leaves?: [number, number];
  detail: string;
}

export interface FullAuditReport {
  /** No finding other than `unanchored`. */
  ok: boolean;
  /** Stored versions recomputed (every type's history). */
  checkedVersions: number;
  /** Log leaves read. */
  checkedLeaves: number;
  /** Size of the latest anchored checkpoint (0 when nothing is anchored). */
  anchoredSize: number;
  /** Anchored checkpoints the log was checked against. */
  anchoredCheckpoints: number;
  logSize: number;
  origin: string;
  findings: AuditFinding[];
}

/** What the audit reads: the store, the log, the ledger. The server's Dependencies fit, as does openForAudit's. */
export interface FullAuditDeps {
  readonly store: Pick<ResourceStore, 'history' | 'readVersion'>;
  readonly defs: { readonly resourceTypes: readonly string[] };
  readonly ledger: {
    readonly log: MerkleLog;
    /** Where checkpoints are anchored; absent when it could not be opened (see openFindings). */
    readonly ledger?: LedgerPort;
    /** The log's C2SP verifier key. */
    readonly verifierKey: string;
  };
  /** The embedded anchor chain's file and public key; taken from an EmbeddedAnchor port when absent. */
  readonly anchorChain?: { readonly file: string; readonly publicKey: KeyObject | string };
  /** What opening the ledger already found (open-for-audit.ts), reported as is. */
  readonly openFindings?: readonly AuditFinding[];
}

export interface FullAuditOptions {
  /** The log's verifier key as published (overrides deps.ledger.verifierKey). */
  verifierKey?: string;
  /** The anchor's public key as published: PEM, base64 of the raw key, or a KeyObject. */
  anchorPublicKey?: KeyObject | string;
  /** Anchor chain signatures to check: every entry's (default) or the last one's. */
  chainSignatures?: 'every' | 'last';
  /** Store history page size. */
  pageSize?: number;
}

export const LEAF_CHUNK = 512;
const DEFAULT_PAGE = 5000;

export async function runFullAudit(deps: FullAuditDeps, opts: FullAuditOptions = {}): Promise<FullAuditReport> {
  const log = deps.ledger.log;
  const origin = log.origin;
  const size = log.size;
  const verifierKey = opts.verifierKey ?? deps.ledger.verifierKey;
  const findings: AuditFinding[] = [...(deps.openFindings ?? [])];

  // 1. The anchor chain.
  const chain = deps.anchorChain ?? (deps.ledger.ledger instanceof EmbeddedAnchor ? { file: deps.ledger.ledger.file, publicKey: deps.ledger.ledger.publicKeyPem } : undefined);
  if (chain) findings.push(...(await checkAnchorChain(chain.file, opts.anchorPublicKey ?? chain.publicKey, opts.chainSignatures ?? 'every')));

  // 2. The log against the anchored checkpoints, leaf by leaf.
  const anchors = new AnchoredCheckpoints(deps.ledger.ledger, origin, findings);
  const latest = await anchors.latest();
  const anchoredSize = latest?.size ?? 0;
  if (latest && latest.size > size) {
    findings.push({
      kind: 'log-truncated',
      size: latest.size,
      leaves: [size, latest.size],
      detail: `the log holds ${size} leaves but a checkpoint of ${latest.size} was anchored (anchor #${latest.sequence}): leaves [${size}, ${latest.size}) are gone`,
    });
  } else if (latest) {
    checkStoredNodes(log, latest, findings);
  }
  const leafPass = await auditLeaves(deps, log, anchors, verifierKey, findings);
  if (size > anchoredSize) {
    findings.push({ kind: 'unanchored', leaves: [anchoredSize, size], detail: `${size - anchoredSize} leaves [${anchoredSize}, ${size}) are not covered by an anchored checkpoint yet` });
  }

  // 3. The store against the log, version by version.
  const types = [...new Set([...deps.defs.resourceTypes, ...leafPass.types])].sort();
  const checkedVersions = await auditVersions(deps.store, log, types, opts.pageSize ?? DEFAULT_PAGE, findings);

  return {
    ok: findings.every((f) => f.kind === 'unanchored'),
    checkedVersions,
    checkedLeaves: size,
    anchoredSize,
    anchoredCheckpoints: leafPass.anchoredChecked,
    logSize: size,
    origin,
    findings,
  };
}

// ---------------------------------------------------------------------------------------------
// The anchored checkpoints, in size order, from the ledger port.

class AnchoredCheckpoints {
  private broken = false;

  constructor(
    private readonly port: LedgerPort | undefined,
    private readonly origin: string,
    private readonly findings: AuditFinding[],
  ) {}

  latest(): Promise<AnchorReceipt | undefined> {
    return this.ask(() => (this.port as LedgerPort).latest(this.origin));
  }

  /** The anchored checkpoint of the smallest size >= size. */
  covering(size: number): Promise<AnchorReceipt | undefined> {
    return this.ask(() => (this.port as LedgerPort).covering(this.origin, size));
  }

  private async ask(fn: () => Promise<AnchorReceipt | undefined>): Promise<AnchorReceipt | undefined> {
    if (!this.port || this.broken) return undefined;
    try {
      return await fn();
    } catch (err) {
      // The embedded port re-checks each entry it reads: an edit made since it was opened.
      this.broken = true;
      this.findings.push({ kind: 'anchor-chain', detail: `the ledger cannot be read: ${(err as Error).message}; no further anchored checkpoint was checked` });
      return undefined;
    }
  }
}

/** The signed note an anchor receipt carries, when its ledger's proof includes it (the embedded one does). */
function anchoredNote(r: AnchorReceipt): string | undefined {
  const p = r.proof as Partial<EmbeddedAnchorProof> | undefined;
  return p?.format === EMBEDDED_PROOF_FORMAT && typeof p.entry?.note === 'string' ? p.entry.note : undefined;
}

/** The anchored checkpoint is the one the log signed with its key and stored at that size. */
function checkAnchoredCheckpoint(log: MerkleLog, r: AnchorReceipt, verifierKey: string, findings: AuditFinding[]): void {
  const problems: string[] = [];
  const note = anchoredNote(r);
  if (note !== undefined) {
    const opened = openCheckpoint(note, verifierKey);
    if (!opened.ok) problems.push(`the anchored note does not verify with the log key (${opened.reason})`);
    else if (opened.value.size !== r.size || toBase64(opened.value.rootHash) !== r.rootHash) problems.push('the anchored note names another size or root than its anchor');
  }
  const stored = log.checkpointAt(r.size);
  if (!stored) {
    problems.push(`the log holds no signed checkpoint of size ${r.size}`);
  } else {
    if (note !== undefined && stored.note !== note) problems.push('the stored signed checkpoint is not the anchored one');
    const opened = openCheckpoint(stored.note, verifierKey);
    if (!opened.ok) problems.push(`the stored signed checkpoint does not verify with the log key (${opened.reason})`);
    else if (opened.value.size !== r.size) problems.push(`the stored signed checkpoint is of size ${opened.value.size}`);
    else if (toBase64(opened.value.rootHash) !== r.rootHash) problems.push(`the stored signed checkpoint has root ${toBase64(opened.value.rootHash)}, the anchored root is ${r.rootHash}`);
    if (toBase64(stored.rootHash) !== r.rootHash) problems.push(`the stored checkpoint record has root ${toBase64(stored.rootHash)}, the anchored root is ${r.rootHash}`);
  }
  if (problems.length > 0) {
    findings.push({ kind: 'checkpoint-mismatch', size: r.size, detail: `anchored checkpoint of size ${r.size} (anchor #${r.sequence}): ${[...new Set(problems)].join('; ')}` });
  }
}

/** At the latest anchored size, the stored nodes (what proofs are built from) give the anchored root. */
function checkStoredNodes(log: MerkleLog, r: AnchorReceipt, findings: AuditFinding[]): void {
  let root: string;
  try {
    root = toBase64(log.root(r.size));
  } catch (err) {
    findings.push({ kind: 'checkpoint-mismatch', size: r.size, detail: `the log's root at the anchored size ${r.size} cannot be computed from its stored nodes: ${(err as Error).message}` });
    return;
  }
  if (root !== r.rootHash) {
    findings.push({ kind: 'checkpoint-mismatch', size: r.size, detail: `the log's stored nodes give root ${root} at size ${r.size}, the anchored root is ${r.rootHash} (anchor #${r.sequence})` });
  }
}

// ---------------------------------------------------------------------------------------------
// Pass 2: the log.

async function auditLeaves(
  deps: FullAuditDeps,
  log: MerkleLog,
  anchors: AnchoredCheckpoints,
  verifierKey: string,
  findings: AuditFinding[],
): Promise<{ types: Set<string>; anchoredChecked: number }> {
  const size = log.size;
  const types = new Set<string>();
  const reportedDeleted = new Set<string>();
  const frontier: Frontier = [];
  let next = size > 0 ? await anchors.covering(1) : undefined;
  let lastMatching = 0;
  let rootBroken = false;
  let anchoredChecked = 0;

  for (let start = 0; start < size; start += LEAF_CHUNK) {
    const end = Math.min(size, start + LEAF_CHUNK);
    const chunk: Array<{ index: number; leaf: StoredLeaf; version: ReturnType<typeof parseVersionKey> }> = [];
    for (let i = start; i < end; i++) {
      let leaf: StoredLeaf | undefined;
      let unreadable: string | undefined;
      try {
        leaf = log.leaf(i);
        if (!leaf) unreadable = `leaf ${i} is missing from the log`;
      } catch (err) {
        unreadable = `leaf ${i} cannot be decoded: ${(err as Error).message}`;
      }
      if (unreadable) findings.push({ kind: 'unreadable', leafIndex: i, detail: unreadable });
      // A missing leaf folds as zeros: the roots from here on cannot match, which is the point.
      appendLeaf(frontier, i, leaf?.leafHash ?? Buffer.alloc(32));
      while (next && next.size === i + 1) {
        anchoredChecked++;
        checkAnchoredCheckpoint(log, next, verifierKey, findings);
        const folded = toBase64(frontierRoot(frontier));
        if (folded === next.rootHash) {
          if (!rootBroken) lastMatching = next.size;
        } else if (!rootBroken) {
          rootBroken = true;
          findings.push({
            kind: 'reordered',
            size: next.size,
            leaves: [lastMatching, next.size],
            detail:
              `the log's leaves fold to root ${folded} at size ${next.size}, the anchored root is ${next.rootHash} (anchor #${next.sequence})` +
              (lastMatching > 0 ? `; they matched the anchor at size ${lastMatching}, so leaves [${lastMatching}, ${next.size}) were changed, moved or replaced` : ''),
          });
        }
        next = await anchors.covering(next.size + 1);
      }
      if (leaf) chunk.push({ index: i, leaf, version: parseVersionKey(leaf.key) });
    }

    for (const { index, leaf: l, version } of chunk) {
      const indices = log.leafIndicesOf(l.key);
      if (!indices.includes(index)) {
        findings.push({
          kind: 'reordered',
          key: l.key,
          leafIndex: index,
          detail: `leaf ${index} carries ${l.key}, which the log's key index places at ${indices.length > 0 ? `[${indices.join(', ')}]` : 'no leaf'}: the leaf record was moved (or the index edited)`,
        });
      }
      if (!version) continue;
      types.add(version.resourceType);
      const n = Number(version.versionId);
      if ((indices[0] ?? index) === index && n > 1) {
        const previous = log.leafIndicesOf(versionKey(version.resourceType, version.id, String(n - 1)))[0];
        if (previous !== undefined && previous > index) {
          findings.push({ kind: 'reordered', key: l.key, leafIndex: index, detail: `leaf ${index} of version ${n} comes before leaf ${previous} of version ${n - 1}` });
        }
      }
    }
    const stored = await Promise.all(chunk.map((c) => (c.version ? deps.store.readVersion(c.version.resourceType, c.version.id, c.version.versionId) : Promise.resolve(undefined))));
    chunk.forEach(({ index, leaf }, k) => {
      const key = leaf.key;
      if (stored[k] || reportedDeleted.has(key)) return;
      reportedDeleted.add(key);
      findings.push({
        kind: 'deleted',
        key,
        leafIndex: index,
        detail: chunk[k]?.version ? `leaf ${index} records ${key}, which the store no longer holds` : `leaf ${index} carries ${JSON.stringify(key)}, which names no resource version`,
      });
    });
  }
  return { types, anchoredChecked };
}

// ---------------------------------------------------------------------------------------------
// Pass 3: the store.

async function auditVersions(store: FullAuditDeps['store'], log: MerkleLog, types: readonly string[], page: number, findings: AuditFinding[]): Promise<number> {
  let checked = 0;
  for (const resourceType of types) {
    for (let skip = 0; ; ) {
      const { entries } = await store.history({ resourceType, skip, limit: page });
      for (const v of entries) {
        checked++;
        checkVersion(v, log, findings);
      }
      skip += entries.length;
      if (entries.length < page) break;
    }
  }
  return checked;
}

function checkVersion(v: StoredVersion, log: MerkleLog, findings: AuditFinding[]): void {
  const key = versionKey(v.resourceType, v.id, v.versionId);
  const indices = log.leafIndicesOf(key);
  if (indices.length === 0) {
    findings.push({ kind: 'inserted', key, detail: `${key} (lastUpdated ${v.lastUpdated}) is stored but has no leaf in the log` });
    return;
  }
  // The latest leaf that really carries this key (a moved leaf record is reported by the leaf pass).
  let leaf: StoredLeaf | undefined;
  for (let k = indices.length - 1; k >= 0 && !leaf; k--) {
    try {
      const l = log.leaf(indices[k] as number);
      if (l?.key === key) leaf = l;
    } catch {
      // reported by the leaf pass
    }
  }
  if (!leaf) return;
  let recomputed: Uint8Array;
  try {
    recomputed = leafHashOf(leaf.salt, leafRecordOf(v));
  } catch (err) {
    findings.push({ kind: 'modified', key, leafIndex: leaf.index, detail: `the stored body of ${key} cannot be canonicalized: ${(err as Error).message}` });
    return;
  }
  if (!bytesEqual(recomputed, leaf.leafHash)) {
    findings.push({ kind: 'modified', key, leafIndex: leaf.index, detail: `${key} as stored hashes to ${toBase64(recomputed)}, its leaf ${leaf.index} is ${toBase64(leaf.leafHash)}` });
  }
}

// ---------------------------------------------------------------------------------------------
// Pass 1: the anchor chain, streamed through the adapter's verifier.

export async function checkAnchorChain(file: string, publicKey: KeyObject | string, signatures: 'every' | 'last'): Promise<AuditFinding[]> {
  let verifier: AnchorChainVerifier;
  try {
    verifier = new AnchorChainVerifier(publicKey, { signatures });
  } catch (err) {
    return [{ kind: 'anchor-chain', detail: `the anchor public key is unusable: ${(err as Error).message}` }];
  }
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    return [{ kind: 'anchor-chain', detail: `the anchor chain ${file} cannot be read: ${(err as Error).message}` }];
  }
  const malformed = new Map<number, string>();
  try {
    const chunk = Buffer.allocUnsafe(1 << 20);
    let carry = Buffer.alloc(0);
    let pos = 0;
    let line = 0;
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      let buf = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      let nl: number;
      while ((nl = buf.indexOf(0x0a)) !== -1) {
        const parsed = parseSignedEntry(buf.subarray(0, nl).toString('utf8'));
        if (typeof parsed === 'string') {
          malformed.set(line, parsed);
          verifier.push(unverifiable(line));
        } else {
          verifier.push(parsed);
        }
        line++;
        buf = buf.subarray(nl + 1);
      }
      carry = Buffer.from(buf);
    }
    // A torn last line (no newline) was never acknowledged: opening the chain cuts it off.
  } finally {
    await fh.close();
  }
  const verdict = verifier.finish();
  const problems: Array<[number, string]> = [
    ...[...malformed].map(([line, reason]): [number, string] => [line, `anchor chain entry ${line} (malformed): ${reason}`]),
    // A malformed line stands in as an unverifiable entry: its own hash/signature/link problems say nothing more.
    ...verdict.problems.filter((p) => !malformed.has(p.index)).map((p): [number, string] => [p.index, `anchor chain entry ${p.index} (${p.kind}): ${p.message}`]),
  ];
  return problems.sort((x, y) => x[0] - y[0]).map(([, detail]) => ({ kind: 'anchor-chain', detail }));
}

/** Stands in for an unparsable line, keeping the positions of later entries. */
function unverifiable(sequence: number): SignedAnchorEntry {
  return { entry: { sequence, origin: '?', size: 0, rootHash: '', note: '', anchoredAt: '', prevEntryHash: '' }, entryHash: '', signature: '' };
}
