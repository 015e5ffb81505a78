import { ledger } from '@hyperledger/fabric-protos';

/** Same shape as test/support/fabric/world-state.ts's KeyVersion: (block, tx) of the last write. */
export interface KeyVersion {
  blockNum: number;
  txNum: number;
}

/** A range query the chaincode ran: what Fabric's RangeQueryInfo records for phantom-read checks. */
export interface RangeQueryRead {
  startKey: string;
  /** '' means unbounded. */
  endKey: string;
  /** The keys the chaincode consumed, in order, with their committed versions. */
  reads: ReadonlyArray<{ key: string; version: KeyVersion }>;
  /** Whether the chaincode read the iterator to its end. */
  exhausted: boolean;
}

export interface ReadWriteSet {
  /** key → version read, or null when the key was absent. */
  reads: ReadonlyMap<string, KeyVersion | null>;
  /** key → new value, or null for a delete. */
  writes: ReadonlyMap<string, Uint8Array | null>;
  rangeQueries: readonly RangeQueryRead[];
}

const { kvrwset } = ledger.rwset;

const byKey = <T>(entries: Iterable<[string, T]>): Array<[string, T]> =>
  [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/**
 * The public simulation result a peer puts in ChaincodeAction.results: a TxReadWriteSet with one
 * KV namespace, reads and writes sorted by key as Fabric's rwset builder sorts them (so two
 * endorsements of the same simulation are byte-identical).
 */
function kvRead(key: string, version: KeyVersion | null): ledger.rwset.kvrwset.KVRead {
  const read = new kvrwset.KVRead();
  read.setKey(key);
  if (version !== null) {
    const v = new kvrwset.Version();
    v.setBlockNum(version.blockNum);
    v.setTxNum(version.txNum);
    read.setVersion(v);
  }
  return read;
}

function readVersion(read: ledger.rwset.kvrwset.KVRead): KeyVersion | null {
  const version = read.getVersion();
  return version === undefined ? null : { blockNum: version.getBlockNum(), txNum: version.getTxNum() };
}

export function encodeTxReadWriteSet(namespace: string, rw: ReadWriteSet): Uint8Array {
  const kv = new kvrwset.KVRWSet();
  kv.setReadsList(byKey(rw.reads).map(([key, version]) => kvRead(key, version)));
  kv.setRangeQueriesInfoList(
    rw.rangeQueries.map((query) => {
      const info = new kvrwset.RangeQueryInfo();
      info.setStartKey(query.startKey);
      info.setEndKey(query.endKey);
      info.setItrExhausted(query.exhausted);
      const raw = new kvrwset.QueryReads();
      raw.setKvReadsList(query.reads.map(({ key, version }) => kvRead(key, version)));
      info.setRawReads(raw);
      return info;
    }),
  );
  kv.setWritesList(
    byKey(rw.writes).map(([key, value]) => {
      const write = new kvrwset.KVWrite();
      write.setKey(key);
      if (value === null) write.setIsDelete(true);
      else write.setValue(value);
      return write;
    }),
  );
  const ns = new ledger.rwset.NsReadWriteSet();
  ns.setNamespace(namespace);
  ns.setRwset(kv.serializeBinary());
  const tx = new ledger.rwset.TxReadWriteSet();
  tx.setDataModel(ledger.rwset.TxReadWriteSet.DataModel.KV);
  tx.setNsRwsetList([ns]);
  return tx.serializeBinary();
}

/** Reads back the namespace's read/write set from a transaction's results, as the committer does. */
export function decodeTxReadWriteSet(bytes: Uint8Array, namespace: string): ReadWriteSet {
  const tx = ledger.rwset.TxReadWriteSet.deserializeBinary(bytes);
  const reads = new Map<string, KeyVersion | null>();
  const writes = new Map<string, Uint8Array | null>();
  const rangeQueries: RangeQueryRead[] = [];
  for (const ns of tx.getNsRwsetList()) {
    if (ns.getNamespace() !== namespace) continue;
    const kv = kvrwset.KVRWSet.deserializeBinary(ns.getRwset_asU8());
    for (const read of kv.getReadsList()) reads.set(read.getKey(), readVersion(read));
    for (const info of kv.getRangeQueriesInfoList()) {
      const rawReads = info.getRawReads();
      // Merkle-summarised range reads only appear past a peer's configured size; this ledger never writes them.
      if (rawReads === undefined) throw new Error('range query info without raw reads is not supported');
      rangeQueries.push({
        startKey: info.getStartKey(),
        endKey: info.getEndKey(),
        exhausted: info.getItrExhausted(),
        reads: rawReads.getKvReadsList().map((read) => {
          const version = readVersion(read);
          if (version === null) throw new Error(`range query read of ${read.getKey()} has no version`);
          return { key: read.getKey(), version };
        }),
      });
    }
    for (const write of kv.getWritesList()) {
      writes.set(write.getKey(), write.getIsDelete() ? null : write.getValue_asU8());
    }
  }
  return { reads, writes, rangeQueries };
}
