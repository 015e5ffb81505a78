import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatCheckpoint, openCheckpoint, parseCheckpoint } from '../../ledger-adapter/src/checkpoint/checkpoint.js';
import { openNote, signNote, verifierKeyOf } from '../../ledger-adapter/src/checkpoint/note.js';

/** C2SP checkpoints (c2sp.org/tlog-checkpoint), including the spec's own example note. */
const SPEC_NOTE =
  'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n' +
  '— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n';

describe('checkpoints (c2sp.org/tlog-checkpoint)', () => {
  it('parses the spec example', () => {
    const text = SPEC_NOTE.slice(0, SPEC_NOTE.indexOf('\n\n') + 1);
    const c = parseCheckpoint(text);
    assert.ok(c.ok);
    assert.equal(c.value.origin, 'example.com/behind-the-sofa');
    assert.equal(c.value.size, 20852163);
    assert.equal(Buffer.from(c.value.rootHash).toString('base64'), 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=');
    assert.equal(formatCheckpoint(c.value), text);
    // Its signature is by a key we do not hold: ignored, so the note does not open for ours.
    const key = generateKeyPairSync('ed25519').privateKey;
    assert.match(String((openNote(SPEC_NOTE, verifierKeyOf('example.com/behind-the-sofa', key)) as { reason?: string }).reason), /no signature by/);
  });

  it('formats origin, decimal size and base64 root, one per line', () => {
    const rootHash = Buffer.alloc(32, 7);
    assert.equal(formatCheckpoint({ origin: 'log.example/x', size: 0, rootHash }), `log.example/x\n0\n${rootHash.toString('base64')}\n`);
    assert.equal(formatCheckpoint({ origin: 'o', size: 12, rootHash, extensions: ['ext one'] }), `o\n12\n${rootHash.toString('base64')}\next one\n`);
    assert.throws(() => formatCheckpoint({ origin: '', size: 1, rootHash }), TypeError);
    assert.throws(() => formatCheckpoint({ origin: 'a\nb', size: 1, rootHash }), TypeError);
    assert.throws(() => formatCheckpoint({ origin: 'o', size: -1, rootHash }), TypeError);
    assert.throws(() => formatCheckpoint({ origin: 'o', size: 1, rootHash: rootHash.subarray(1) }), TypeError);
    assert.throws(() => formatCheckpoint({ origin: 'o', size: 1, rootHash, extensions: [''] }), TypeError);
  });

  it('round-trips, and parsing refuses every malformed variant', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }).filter((s) => !s.includes('\n')),
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (origin, size, rootHash) => {
          const text = formatCheckpoint({ origin, size, rootHash });
          const back = parseCheckpoint(text);
          assert.ok(back.ok);
          assert.deepEqual({ ...back.value, rootHash: Buffer.from(back.value.rootHash) }, { origin, size, rootHash: Buffer.from(rootHash) });
        },
      ),
    );
    const root = Buffer.alloc(32, 1).toString('base64');
    for (const bad of [
      `o\n1\n${root}`, // no final newline
      `o\n1\n`, // two lines
      `\n1\n${root}\n`, // empty origin
      `o\n01\n${root}\n`, // leading zero
      `o\n-1\n${root}\n`,
      `o\n1.0\n${root}\n`,
      `o\n 1\n${root}\n`,
      `o\n99999999999999999999\n${root}\n`,
      `o\n1\n${Buffer.alloc(31).toString('base64')}\n`, // 31-byte root
      `o\n1\n${root.replace('=', '')}\n`, // unpadded
      `o\n1\n${root}\n\n`, // empty extension line
    ]) {
      assert.equal(parseCheckpoint(bad).ok, false, JSON.stringify(bad));
    }
  });

  it('opens a signed checkpoint, and refuses one whose size or root was altered', () => {
    const key = generateKeyPairSync('ed25519').privateKey;
    const vkey = verifierKeyOf('log.example/x', key);
    const rootHash = Buffer.alloc(32, 9);
    const note = signNote(formatCheckpoint({ origin: 'log.example/x', size: 41, rootHash }), 'log.example/x', key);
    const opened = openCheckpoint(note, vkey);
    assert.ok(opened.ok);
    assert.equal(opened.value.size, 41);
    assert.match(String((openCheckpoint(note.replace('\n41\n', '\n42\n'), vkey) as { reason?: string }).reason), /does not verify/);
    const otherRoot = Buffer.alloc(32, 8).toString('base64');
    assert.equal(openCheckpoint(note.replace(rootHash.toString('base64'), otherRoot), vkey).ok, false);
    // A correctly signed text that is not a checkpoint.
    assert.equal(openCheckpoint(signNote('just text\n', 'log.example/x', key), vkey).ok, false);
  });
});
