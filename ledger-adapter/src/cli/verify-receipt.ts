import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FABRIC_ENV_VARS, FabricConfigError, fabricConfigFromEnv, type FabricConfig } from '../../fabric/fabric-config.js';
import type { AnchorReceipt } from '../anchor/ledger-port.js';
import { openCheckpoint } from '../checkpoint/checkpoint.js';
import { parseVerifierKey } from '../checkpoint/note.js';
import { toBase64 } from '../merkle/base64.js';
import { verifyReceipt } from '../verify/receipt.js';

/**
 * Receipt verification:
 *
 *   npm run verify -- --key <verifier key | file holding it> --receipt <file> [--record <file>] [--fabric]
 *
 * Offline, with the log's key only: the checkpoint's signature, the inclusion proof and, with
 * --record, the record's leaf hash. With --fabric, also online: the receipt's anchor must be a
 * Fabric anchor of the receipt's signed checkpoint, and the channel must hold exactly that anchor
 * (checkFabricReceipt). The connection is read from the FABRIC_* variables, as the server reads
 * them (README "Configuration"); read access to the channel is enough.
 *
 * Prints each check. Exit status: 0 verified, 1 mismatch (a check failed: also a receipt with no
 * Fabric anchor under --fabric, or one the channel disagrees with), 2 bad usage or configuration
 * (unknown or missing options, unreadable files, a receipt or record file that is not JSON, an
 * unusable key, FABRIC_* missing or invalid), 3 Fabric could not be asked (unreachable, or it
 * refused the query): the offline checks passed but the anchor is unchecked.
 */
const USAGE = 'usage: npm run verify -- --key <verifier key | file> --receipt <receipt.json> [--record <record.json>] [--fabric]';

const EXIT = { verified: 0, mismatch: 1, usage: 2, unreachable: 3 } as const;

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

/** The Fabric connection from FABRIC_*: a missing or invalid variable is a usage error naming it. */
function fabricConfig(env: NodeJS.ProcessEnv): FabricConfig {
  let config: FabricConfig | undefined;
  try {
    config = fabricConfigFromEnv(env);
  } catch (err) {
    if (err instanceof FabricConfigError) throw new UsageError(`--fabric: ${err.message}`);
    throw err;
  }
  if (!config) {
    const names = FABRIC_ENV_VARS.filter((v) => v.default === undefined).map((v) => v.name);
    throw new UsageError(`--fabric reads the Fabric connection from the environment, and FABRIC_PEER_ENDPOINT is not set (also needed: ${names.slice(1).join(', ')})`);
  }
  return config;
}

interface FabricCheck {
  check: { check: 'fabric'; ok: boolean; detail: string };
  /** Fabric could not be asked: no verdict on the anchor. */
  unreachable?: boolean;
}

/**
 * The receipt's anchor, checked against the channel. First offline: it must be a Fabric anchor
 * of the very checkpoint the receipt's proof is against (origin, size and root of the signed
 * note), else a channel that holds it proves nothing about this record.
 */
async function checkFabricAnchor(receipt: unknown, verifierKey: string, config: FabricConfig): Promise<FabricCheck> {
  const fail = (detail: string): FabricCheck => ({ check: { check: 'fabric', ok: false, detail } });
  const r = (typeof receipt === 'object' && receipt !== null ? receipt : {}) as { checkpoint?: unknown; anchor?: unknown };
  const anchor = r.anchor as AnchorReceipt | undefined;
  if (anchor === undefined || anchor === null) return fail('the receipt carries no anchor (its checkpoint was not anchored yet when it was issued): not a Fabric receipt');
  if (typeof anchor !== 'object') return fail('the receipt anchor is not an object: not a Fabric receipt');
  if (anchor.ledger !== 'fabric') return fail(`the receipt is anchored in the ${JSON.stringify(anchor.ledger)} ledger, not Fabric: not a Fabric receipt`);
  const signed = openCheckpoint(r.checkpoint, verifierKey);
  if (!signed.ok) return fail(`the anchor cannot be tied to the receipt: its checkpoint does not verify (${signed.reason})`);
  const cp = signed.value;
  if (anchor.origin !== cp.origin || anchor.size !== cp.size || anchor.rootHash !== toBase64(cp.rootHash)) {
    return fail(`the anchor is of ${String(anchor.origin)} at size ${String(anchor.size)}, root ${String(anchor.rootHash)}, not of the receipt's signed checkpoint (${cp.origin} at size ${cp.size}, root ${toBase64(cp.rootHash)})`);
  }

  // Loaded only for --fabric: the offline check needs no gRPC.
  const [{ connectFabric }, { checkFabricReceipt }, { describeError }] = await Promise.all([
    import('../../fabric/fabric-connection.js'),
    import('../../fabric/verify-fabric-receipt.js'),
    import('../../fabric/fabric-errors.js'),
  ]);
  const connection = connectFabric(config);
  const where = `channel ${config.channel}, chaincode ${config.chaincode} at ${config.peerEndpoint}`;
  try {
    const verdict = await checkFabricReceipt(anchor, connection.anchorContract);
    if (!verdict.ok) return fail(`Fabric disagrees (${where}): ${verdict.reason}`);
    const block = anchor.blockNumber === undefined ? '' : ` in block ${anchor.blockNumber}`;
    return { check: { check: 'fabric', ok: true, detail: `anchored in transaction ${anchor.txId}${block}, anchor ${anchor.sequence} of the log (${where})` } };
  } catch (err) {
    return { check: { check: 'fabric', ok: false, detail: `cannot check the anchor: Fabric could not be asked (${where}): ${describeError(err)}` }, unreachable: true };
  } finally {
    connection.close();
  }
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        key: { type: 'string' },
        receipt: { type: 'string' },
        record: { type: 'string' },
        fabric: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      console.log(USAGE);
      return EXIT.verified;
    }
    if (!values.key || !values.receipt) throw new UsageError('--key and --receipt are required');
    const verifierKey = readKey(values.key);
    const receipt = readJson(values.receipt, 'receipt');
    const record = values.record !== undefined ? readJson(values.record, 'record') : undefined;
    // Before anything is printed: a configuration error is a usage error, not a verdict.
    const config = values.fabric ? fabricConfig(env) : undefined;

    const result = verifyReceipt(receipt, { verifierKey, ...(record !== undefined ? { record } : {}) });
    const checks: Array<{ check: string; ok: boolean; detail: string }> = [...result.checks];
    let unreachable = false;
    if (config) {
      const fabric = await checkFabricAnchor(receipt, verifierKey, config);
      checks.push(fabric.check);
      unreachable = fabric.unreachable === true;
    }
    console.log(`receipt ${values.receipt}`);
    for (const c of checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.check.padEnd(10)}  ${c.detail}`);
    const offlineFailed = checks.some((c) => !c.ok && c.check !== 'fabric');
    if (unreachable && !offlineFailed) {
      console.log('unchecked: the offline checks passed, the Fabric anchor could not be checked');
      return EXIT.unreachable;
    }
    const verified = checks.every((c) => c.ok);
    console.log(verified ? 'verified' : 'mismatch');
    return verified ? EXIT.verified : EXIT.mismatch;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error((err as Error).message);
      console.error(USAGE);
      return EXIT.usage;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2), process.env);
