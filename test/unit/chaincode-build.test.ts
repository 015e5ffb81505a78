import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import type { Contract } from 'fabric-contract-api';
import { formatCheckpoint } from '../../ledger-adapter/src/checkpoint/checkpoint.js';
import { signNote, verifierKeyOf } from '../../ledger-adapter/src/checkpoint/note.js';
import { leafHash } from '../../ledger-adapter/src/merkle/hash.js';
import { MemoryTree } from '../../ledger-adapter/src/merkle/memory-tree.js';
import { consistencyProof, rootAt } from '../../ledger-adapter/src/merkle/proofs.js';
import { toBase64 } from '../../ledger-adapter/src/merkle/base64.js';
import { runTransaction, transactionNames } from '../support/fabric/run-transaction.js';
import { SimulatedStub } from '../support/fabric/simulated-stub.js';
import { WorldState } from '../support/fabric/world-state.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CHAINCODE = join(ROOT, 'ledger-adapter/chaincode');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const skip = existsSync(TSC) ? false : `the TypeScript compiler is not installed (${relative(ROOT, TSC)} is missing): cannot build the chaincode`;

function jsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (name === 'node_modules') return [];
    return statSync(p).isDirectory() ? jsFiles(p) : [p];
  });
}

describe('chaincode build (tsc -p ledger-adapter/chaincode)', { skip }, () => {
  const out = mkdtempSync(join(tmpdir(), 'custodian-chaincode-'));
  after(() => rmSync(out, { recursive: true, force: true }));
  const pkg = JSON.parse(readFileSync(join(CHAINCODE, 'package.json'), 'utf8')) as {
    main: string;
    scripts: Record<string, string>;
    dependencies: Record<string, string>;
  };
  let built: Promise<void> | undefined;
  const build = (): Promise<void> =>
    (built ??= (async () => {
      await promisify(execFile)(process.execPath, [TSC, '-p', CHAINCODE, '--outDir', out], { cwd: ROOT, timeout: 300_000 });
      // The deployed chaincode gets its dependencies from `npm install` in its own folder; here, the repository's.
      symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'), 'dir');
    })());

  /** package.json's main, relative to the build's outDir (tsconfig's outDir is dist/). */
  const entry = (): string => join(out, relative('dist', pkg.main));

  it('emits CommonJS that needs nothing outside the build but its declared dependencies', async () => {
    await build();
    assert.ok(existsSync(entry()), `package.json main ${pkg.main} is not among the built files`);
    const allowed = new Set([...Object.keys(pkg.dependencies), ...builtinModules]);
    const files = jsFiles(out);
    assert.ok(files.some((f) => f.includes(`${sep}src${sep}checkpoint${sep}`)), 'the shared checkpoint modules are compiled into the build');
    for (const file of files) {
      assert.ok(file.endsWith('.js'), `${relative(out, file)} is not JavaScript`);
      const src = readFileSync(file, 'utf8');
      assert.doesNotMatch(src, /^\s*(import|export)\s/m, `${relative(out, file)} is not CommonJS`);
      for (const [, spec] of src.matchAll(/require\("([^"]+)"\)/g)) {
        if (spec.startsWith('.')) {
          const target = resolve(dirname(file), spec);
          assert.ok(target.startsWith(out + sep) && existsSync(target), `${relative(out, file)} requires ${spec}, outside the build`);
        } else {
          assert.ok(allowed.has(spec.replace(/^node:/, '')) || allowed.has(spec), `${relative(out, file)} requires ${spec}, not a declared dependency`);
        }
      }
    }
    assert.equal(pkg.scripts.start, 'fabric-chaincode-node start');
  });

  it('exports the anchor contract from its entry, and the built contract anchors a real checkpoint', async () => {
    await build();
    const mod = createRequire(import.meta.url)(entry()) as { contracts?: Array<new () => Contract> };
    assert.ok(Array.isArray(mod.contracts) && mod.contracts.length === 1, 'the entry exports contracts: [AnchorContract]');
    const contract = new mod.contracts[0]();
    assert.equal(contract.getName(), 'anchor');
    assert.deepEqual(transactionNames(contract).sort(), ['AnchorCheckpoint', 'GetAnchor', 'GetLatest', 'GetLog', 'GetRange', 'RegisterLog']);

    const origin = 'custodian.example/audit-log';
    const key = generateKeyPairSync('ed25519').privateKey;
    const tree = new MemoryTree(Array.from({ length: 7 }, (_, i) => leafHash(Buffer.from(`leaf ${i}`))));
    const note = (size: number) => signNote(formatCheckpoint({ origin, size, rootHash: rootAt(tree, size) }), origin, key);
    const state = new WorldState();
    let n = 0;
    const submit = async (fcn: string, args: string[]) => {
      n++;
      const stub = new SimulatedStub({ state, txId: `tx-${n}`, timestamp: new Date(Date.UTC(2025, 0, 1, 0, 0, n)), channel: 'c', mspId: 'Org1MSP', fcn, args });
      const r = await runTransaction(contract, stub, fcn, args);
      assert.equal(r.status, 200, r.message);
      state.apply(stub.result().writes, { blockNum: n, txNum: 0 });
      return JSON.parse(Buffer.from(r.payload).toString('utf8')) as Record<string, unknown>;
    };
    await submit('RegisterLog', [origin, verifierKeyOf(origin, key)]);
    assert.equal((await submit('AnchorCheckpoint', [note(3), '0', '[]'])).sequence, 0);
    const second = await submit('AnchorCheckpoint', [note(7), '3', JSON.stringify(consistencyProof(tree, 3, 7).map(toBase64))]);
    assert.deepEqual([second.status, second.size, second.sequence], ['anchored', 7, 1]);
  });
});
