import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseVerifierKey } from '../checkpoint/note.js';
import { verifyReceipt } from '../verify/receipt.js';

/**
 * Offline receipt verification:
 *
 *   npm run verify -- --key <verifier key | file holding it> --receipt <file> [--record <file>]
 *
 * Prints each check. Exit status: 0 verified, 1 mismatch, 2 bad usage (unknown or missing
 * options, unreadable files, a receipt or record file that is not JSON, an unusable key).
 */
const USAGE = 'usage: npm run verify -- --key <verifier key | file> --receipt <receipt.json> [--record <record.json>]';

class UsageError extends Error {}

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the ${what} file ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(`the ${what} file ${path} is not JSON: ${(err as Error).message}`);
  }
}

function readKey(arg: string): string {
  if (parseVerifierKey(arg).ok) return arg;
  if (!existsSync(arg)) throw new UsageError(`--key is neither a verifier key nor a file: ${arg}`);
  const text = readFileSync(arg, 'utf8').trim();
  const parsed = parseVerifierKey(text);
  if (!parsed.ok) throw new UsageError(`the key file ${arg} does not hold a verifier key: ${parsed.reason}`);
  return text;
}

function main(argv: string[]): number {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        key: { type: 'string' },
        receipt: { type: 'string' },
        record: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (!values.key || !values.receipt) throw new UsageError('--key and --receipt are required');
    const verifierKey = readKey(values.key);
    const receipt = readJson(values.receipt, 'receipt');
    const record = values.record !== undefined ? readJson(values.record, 'record') : undefined;

    const result = verifyReceipt(receipt, { verifierKey, ...(record !== undefined ? { record } : {}) });
    console.log(`receipt ${values.receipt}`);
    for (const c of result.checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.check.padEnd(10)}  ${c.detail}`);
    console.log(result.verdict);
    return result.verdict === 'verified' ? 0 : 1;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error((err as Error).message);
      console.error(USAGE);
      return 2;
    }
    throw err;
  }
}

process.exitCode = main(process.argv.slice(2));
