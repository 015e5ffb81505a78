import { peer } from '@hyperledger/fabric-protos';

export type TxValidationCodeName = keyof typeof peer.TxValidationCode;

interface Counter {
  remaining: number;
}

/**
 * Failures a test arms before it calls the gateway. Each arm counts down as calls consume it, so
 * "the next N" means the next N calls of that kind, whoever makes them.
 */
export class GatewayFaults {
  readonly #evaluateUnavailable: Counter = { remaining: 0 };
  readonly #endorseUnavailable: Counter = { remaining: 0 };
  readonly #submitUnavailable: Counter = { remaining: 0 };
  readonly #commitStatusUnavailable: Counter = { remaining: 0 };
  readonly #submitHangs: Array<{ order: boolean }> = [];
  readonly #forcedCodes: number[] = [];

  /** The next n Evaluate calls fail UNAVAILABLE, as when the gateway has no reachable peer. */
  failEvaluations(n = 1): this {
    this.#evaluateUnavailable.remaining += n;
    return this;
  }

  /** The next n Endorse calls fail UNAVAILABLE before anything is simulated. */
  failEndorsements(n = 1): this {
    this.#endorseUnavailable.remaining += n;
    return this;
  }

  /** The next n Submit calls fail UNAVAILABLE with nothing ordered (no orderer reachable). */
  failSubmits(n = 1): this {
    this.#submitUnavailable.remaining += n;
    return this;
  }

  /**
   * The next n Submit calls never answer, so the client's deadline expires. With `order: true` the
   * transaction is still ordered and committed: the client saw a failure, the ledger did not.
   */
  hangSubmits(n = 1, options: { order?: boolean } = {}): this {
    for (let i = 0; i < n; i++) this.#submitHangs.push({ order: options.order ?? false });
    return this;
  }

  /** The next n CommitStatus calls fail UNAVAILABLE (the transaction itself is unaffected). */
  failCommitStatus(n = 1): this {
    this.#commitStatusUnavailable.remaining += n;
    return this;
  }

  /** The next n transactions to reach validation commit as MVCC_READ_CONFLICT, whatever they read. */
  forceMvccConflicts(n = 1): this {
    return this.forceValidationCode('MVCC_READ_CONFLICT', n);
  }

  /** The next n transactions to reach validation get this code (e.g. ENDORSEMENT_POLICY_FAILURE). */
  forceValidationCode(code: TxValidationCodeName, n = 1): this {
    if (code === 'VALID') throw new Error('forcing VALID would hide a real validation failure');
    for (let i = 0; i < n; i++) this.#forcedCodes.push(peer.TxValidationCode[code]);
    return this;
  }

  reset(): void {
    this.#evaluateUnavailable.remaining = 0;
    this.#endorseUnavailable.remaining = 0;
    this.#submitUnavailable.remaining = 0;
    this.#commitStatusUnavailable.remaining = 0;
    this.#submitHangs.length = 0;
    this.#forcedCodes.length = 0;
  }

  takeEvaluateUnavailable(): boolean {
    return take(this.#evaluateUnavailable);
  }

  takeEndorseUnavailable(): boolean {
    return take(this.#endorseUnavailable);
  }

  takeSubmitUnavailable(): boolean {
    return take(this.#submitUnavailable);
  }

  takeSubmitHang(): { order: boolean } | undefined {
    return this.#submitHangs.shift();
  }

  takeCommitStatusUnavailable(): boolean {
    return take(this.#commitStatusUnavailable);
  }

  takeForcedValidationCode(): number | undefined {
    return this.#forcedCodes.shift();
  }
}

function take(counter: Counter): boolean {
  if (counter.remaining <= 0) return false;
  counter.remaining -= 1;
  return true;
}
