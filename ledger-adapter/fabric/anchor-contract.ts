import { StatusCode, type Contract, type Proposal, type SubmittedTransaction, type Transaction } from '@hyperledger/fabric-gateway';
import { toBase64 } from '../src/merkle/base64.js';
import {
  decodeJson,
  decodeOptional,
  MalformedResponseError,
  parseAnchorList,
  parseAnchorOutcome,
  parseAnchorRecord,
  parseLogRegistration,
  type AnchorOutcome,
  type AnchorRecord,
  type LogRegistration,
} from './anchor-records.js';

/**
 * The anchor chaincode as typed calls (contract `anchor`; interface in README.md). Anchoring is
 * split into its three stages so that the ledger can retry each one by what failed: the same
 * signed proposal endorsed again, the same signed transaction submitted again, the same
 * commit status asked again. Errors are fabric-gateway's own (EndorseError, SubmitError,
 * CommitStatusError, GatewayError) or MalformedResponseError; the ledger decides what they mean.
 */

export const ANCHOR_CONTRACT_NAME = 'anchor';

/** How a submitted transaction was validated at commit. */
export interface CommitOutcome {
  /** Absent when only the validation code is known (a CommitError). */
  blockNumber?: number;
  /** Fabric's TxValidationCode (0 = VALID). */
  code: number;
  codeName: string;
  successful: boolean;
}

/** One AnchorCheckpoint transaction, stage by stage. Its txId is fixed when it is proposed. */
export interface AnchorTransaction {
  readonly txId: string;
  /** Collects endorsements (again, for the same proposal, on a retry) and returns the chaincode's answer. */
  endorse(): Promise<AnchorOutcome>;
  /** Hands the endorsed transaction to ordering (again, the same signed bytes, on a retry). */
  submit(): Promise<void>;
  /** Waits for the submitted transaction's commit and says how it was validated. */
  status(): Promise<CommitOutcome>;
}

export interface AnchorContract {
  /** Idempotent for the same key; the registration as the ledger holds it. */
  registerLog(origin: string, verifierKey: string): Promise<LogRegistration>;
  getLog(origin: string): Promise<LogRegistration | undefined>;
  getLatest(origin: string): Promise<AnchorRecord | undefined>;
  getAnchor(origin: string, size: number): Promise<AnchorRecord | undefined>;
  /** Anchors with fromSize ≤ size ≤ toSize (no upper bound when undefined), ascending, at most `limit`. */
  getRange(origin: string, fromSize: number, toSize: number | undefined, limit: number): Promise<AnchorRecord[]>;
  /** A new AnchorCheckpoint proposal: `previousSize` is the latest anchored size (0 for none), `proof` goes from it to the note's size. */
  proposeAnchor(note: string, previousSize: number, proof: readonly Uint8Array[]): AnchorTransaction;
}

const STATUS_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(StatusCode).map(([name, code]) => [code as number, name]));

export function statusName(code: number): string {
  return STATUS_NAMES.get(code) ?? `UNKNOWN_${code}`;
}

/** AnchorContract over a fabric-gateway Contract (`network.getContract(chaincode, 'anchor')`). */
export class GatewayAnchorContract implements AnchorContract {
  constructor(private readonly contract: Contract) {
    const name = contract.getContractName();
    if (name !== ANCHOR_CONTRACT_NAME) throw new TypeError(`expected the '${ANCHOR_CONTRACT_NAME}' contract, got ${JSON.stringify(name)}`);
  }

  async registerLog(origin: string, verifierKey: string): Promise<LogRegistration> {
    const registration = parseLogRegistration(decodeJson(await this.contract.submit('RegisterLog', { arguments: [origin, verifierKey] }), 'RegisterLog result'));
    if (registration.origin !== origin) throw new MalformedResponseError('RegisterLog result', `registration of ${registration.origin}, not ${origin}`);
    return registration;
  }

  async getLog(origin: string): Promise<LogRegistration | undefined> {
    const registration = decodeOptional(await this.evaluate('GetLog', origin), 'GetLog result', parseLogRegistration);
    if (registration && registration.origin !== origin) throw new MalformedResponseError('GetLog result', `registration of ${registration.origin}, not ${origin}`);
    return registration;
  }

  async getLatest(origin: string): Promise<AnchorRecord | undefined> {
    const record = decodeOptional(await this.evaluate('GetLatest', origin), 'GetLatest result', parseAnchorRecord);
    if (record && record.origin !== origin) throw new MalformedResponseError('GetLatest result', `an anchor of ${record.origin}, not ${origin}`);
    return record;
  }

  async getAnchor(origin: string, size: number): Promise<AnchorRecord | undefined> {
    const record = decodeOptional(await this.evaluate('GetAnchor', origin, String(size)), 'GetAnchor result', parseAnchorRecord);
    if (record && (record.origin !== origin || record.size !== size)) {
      throw new MalformedResponseError('GetAnchor result', `the anchor of ${record.origin} at ${record.size}, not ${origin} at ${size}`);
    }
    return record;
  }

  async getRange(origin: string, fromSize: number, toSize: number | undefined, limit: number): Promise<AnchorRecord[]> {
    const bytes = await this.evaluate('GetRange', origin, String(fromSize), toSize === undefined ? '' : String(toSize), String(limit));
    const records = parseAnchorList(decodeJson(bytes, 'GetRange result'));
    if (records.length > limit) throw new MalformedResponseError('GetRange result', `${records.length} anchors for a limit of ${limit}`);
    let previous = -1;
    for (const r of records) {
      if (r.origin !== origin || r.size < fromSize || (toSize !== undefined && r.size > toSize) || r.size <= previous) {
        throw new MalformedResponseError('GetRange result', `anchor ${r.origin} at ${r.size} is not in ascending order within ${origin} [${fromSize}, ${toSize ?? '∞'}]`);
      }
      previous = r.size;
    }
    return records;
  }

  proposeAnchor(note: string, previousSize: number, proof: readonly Uint8Array[]): AnchorTransaction {
    const proposal = this.contract.newProposal('AnchorCheckpoint', {
      arguments: [note, String(previousSize), JSON.stringify(proof.map(toBase64))],
    });
    return new GatewayAnchorTransaction(proposal);
  }

  private evaluate(name: string, ...args: string[]): Promise<Uint8Array> {
    return this.contract.evaluate(name, { arguments: args });
  }
}

class GatewayAnchorTransaction implements AnchorTransaction {
  readonly txId: string;
  private endorsed?: Transaction;
  private submitted?: SubmittedTransaction;

  constructor(private readonly proposal: Proposal) {
    this.txId = proposal.getTransactionId();
  }

  async endorse(): Promise<AnchorOutcome> {
    this.endorsed = await this.proposal.endorse();
    return parseAnchorOutcome(decodeJson(this.endorsed.getResult(), 'AnchorCheckpoint result'));
  }

  async submit(): Promise<void> {
    if (!this.endorsed) throw new Error(`transaction ${this.txId}: submit before endorse`);
    this.submitted = await this.endorsed.submit();
  }

  async status(): Promise<CommitOutcome> {
    if (!this.submitted) throw new Error(`transaction ${this.txId}: status before submit`);
    const s = await this.submitted.getStatus();
    const blockNumber = Number(s.blockNumber);
    if (!Number.isSafeInteger(blockNumber)) throw new MalformedResponseError('commit status', `block number ${s.blockNumber} is out of range`);
    return { blockNumber, code: s.code, codeName: statusName(s.code), successful: s.successful };
  }
}
