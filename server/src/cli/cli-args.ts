/**
 * Small helpers shared by the command-line entry points (seed, import): argument parsing
 * errors as a typed UsageError, integer options, and "am I the script being run".
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** Bad command line: the entry point prints the message and the usage text and exits 2. */
export class UsageError extends Error {}

/** Parses an integer option value, or throws a UsageError naming the option. */
export function intOption(name: string, value: string | undefined, fallback: number, min = Number.MIN_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (!/^-?\d+$/.test(value.trim())) throw new UsageError(`--${name} must be an integer, got "${value}"`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

/** True when the module with this import.meta.url is the script node was started with. */
export function isMainModule(importMetaUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === importMetaUrl;
  } catch {
    return false;
  }
}

/** Turns node:util parseArgs' own errors (unknown option, missing value) into UsageErrors. */
export function asUsageError(err: unknown): unknown {
  const code = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS') ? new UsageError((err as Error).message) : err;
}

/** Runs a CLI's main: exit 2 with usage for argument errors, 1 with the message otherwise. */
export function runCli(name: string, usage: string, main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      if (err instanceof UsageError) {
        process.stderr.write(`${err.message}\n\n${usage}`);
        process.exitCode = 2;
      } else {
        process.stderr.write(`${name} failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      }
    },
  );
}
