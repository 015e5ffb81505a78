/** The outcome of parsing or checking untrusted input: never an exception, always a reason. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

export const parsed = <T>(value: T): Parsed<T> => ({ ok: true, value });
export const refused = <T = never>(reason: string): Parsed<T> => ({ ok: false, reason });
