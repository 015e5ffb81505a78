/** Exponential backoff with jitter, shared by the ledger's stage retries and the event listener's reconnects. */
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
}

export type Backoff = (attempt: number) => number;

/** Delay before retry number `attempt` (1-based): initial·factor^(attempt-1), at most max, jittered into its upper half. */
export function backoff(options: BackoffOptions = {}, random: () => number = Math.random): Backoff {
  const initialMs = options.initialMs ?? 100;
  const maxMs = options.maxMs ?? 5000;
  const factor = options.factor ?? 2;
  return (attempt) => {
    const base = Math.min(maxMs, initialMs * factor ** Math.min(Math.max(attempt - 1, 0), 60));
    return Math.round(base / 2 + (base / 2) * random());
  };
}

export const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A sleep that does not keep the process alive: for background loops that close() can end anyway. */
export const backgroundSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());
