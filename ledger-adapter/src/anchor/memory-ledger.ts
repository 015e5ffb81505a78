import { AnchorIndex, existingOrAppend, validateCheckpoint } from './anchor-rules.js';
import { LedgerUnavailableError, type AnchorReceipt, type CheckpointToAnchor, type LedgerPort, type LedgerStatus } from './ledger-port.js';

/**
 * An in-memory ledger with the port's rules and nothing durable: a reference implementation
 * for the contract tests and a stand-in for tests of whatever feeds a ledger. Its receipts
 * carry no offline proof (`proof.format` says so).
 */
export class MemoryLedger implements LedgerPort {
  private readonly index = new AnchorIndex();
  private readonly receipts: AnchorReceipt[] = [];
  private closed = false;

  constructor(
    readonly name: string = 'memory',
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Every receipt in anchoring order (a copy). */
  all(): AnchorReceipt[] {
    return [...this.receipts];
  }

  async anchor(cp: CheckpointToAnchor): Promise<AnchorReceipt> {
    const v = validateCheckpoint(cp);
    this.assertOpen();
    const existing = await existingOrAppend(this.index, v, async (seq) => this.receipts[seq]);
    if (existing) return existing;
    const sequence = this.receipts.length;
    const receipt: AnchorReceipt = {
      ledger: this.name,
      origin: v.origin,
      size: v.size,
      rootHash: v.rootHash,
      anchoredAt: this.now().toISOString(),
      sequence,
      proof: { format: 'custodian-memory-anchor/v1', note: v.note },
    };
    this.receipts.push(receipt);
    this.index.add(v.origin, v.size, sequence);
    return receipt;
  }

  async latest(origin: string): Promise<AnchorReceipt | undefined> {
    this.assertOpen();
    const l = this.index.latest(origin);
    return l && this.receipts[l.sequence];
  }

  async covering(origin: string, size: number): Promise<AnchorReceipt | undefined> {
    this.assertOpen();
    const seq = this.index.covering(origin, size);
    return seq === undefined ? undefined : this.receipts[seq];
  }

  async status(): Promise<LedgerStatus> {
    return { name: this.name, healthy: !this.closed, detail: this.closed ? 'closed' : `${this.receipts.length} anchors (in memory)` };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new LedgerUnavailableError(`${this.name} ledger is closed`);
  }
}
