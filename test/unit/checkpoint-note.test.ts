import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ed25519PrivateKeyFromSeed } from '../../ledger-adapter/src/checkpoint/log-key.js';
import { openNote, parseVerifierKey, signNote, verifierKeyOf } from '../../ledger-adapter/src/checkpoint/note.js';

/**
 * C2SP signed notes. Known answers: the example key and note of Go's golang.org/x/mod/sumdb/note
 * package documentation (the format c2sp.org/signed-note standardises; Ed25519 is
 * deterministic, so signing the same text with the same seed must give the same bytes), and
 * the example note of an earlier revision of the signed-note spec.
 */
const GO_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const GO_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE = `${GO_TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

const SPEC_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const SPEC_NOTE =
  'This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';

function goSeed(skey: string): Buffer {
  const b = Buffer.from(skey.split('+').slice(4).join('+'), 'base64');
  assert.equal(b[0], 0x01);
  return b.subarray(1);
}

const newKey = () => generateKeyPairSync('ed25519').privateKey;

describe('signed notes (c2sp.org/signed-note)', () => {
  it('reproduces the Go sumdb/note example byte for byte', () => {
    const key = ed25519PrivateKeyFromSeed(goSeed(GO_SKEY));
    assert.equal(verifierKeyOf('PeterNeumann', key), GO_VKEY);
    assert.equal(signNote(GO_TEXT, 'PeterNeumann', key), GO_NOTE);
    assert.deepEqual(openNote(GO_NOTE, GO_VKEY), { ok: true, value: { text: GO_TEXT, otherSignatures: 0 } });
  });

  it('opens the signed-note spec example', () => {
    const opened = openNote(SPEC_NOTE, SPEC_VKEY);
    assert.deepEqual(opened, { ok: true, value: { text: 'This is an example message.\n', otherSignatures: 0 } });
  });

  it('parses verifier keys and refuses mangled ones', () => {
    const k = parseVerifierKey(GO_VKEY);
    assert.ok(k.ok);
    assert.equal(k.value.name, 'PeterNeumann');
    assert.equal(Buffer.from(k.value.keyId).toString('hex'), 'c74f20a3');
    assert.equal(k.value.rawKey.length, 32);
    for (const bad of [
      '',
      'PeterNeumann',
      'PeterNeumann+c74f20a3',
      'PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', // wrong key ID
      'PeterNeumann+c74f20a3+AhpjZBxQ8OEx0HoMMW84SqogX7FZJqqvywxOIs1stdE1', // wrong type byte
      'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T', // truncated
      'Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
      'PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
      'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW+x',
    ]) {
      assert.equal(parseVerifierKey(bad).ok, false, bad);
    }
  });

  it('rejects a wrong key, an altered text, a tampered signature and a missing blank line', () => {
    const key = newKey();
    const vkey = verifierKeyOf('log.example/a', key);
    const note = signNote('hello\nworld\n', 'log.example/a', key);
    assert.ok(openNote(note, vkey).ok);

    const other = verifierKeyOf('log.example/a', newKey());
    assert.match(reason(openNote(note, other)), /no signature by/);

    assert.match(reason(openNote(note.replace('world', 'World'), vkey)), /does not verify/);
    assert.match(reason(openNote(note.replace('hello\nworld\n', 'hello\nworld\nmore\n'), vkey)), /does not verify/);

    const [head, sig] = note.split(' log.example/a ');
    const bytes = Buffer.from(sig.trimEnd(), 'base64');
    bytes[10] ^= 1;
    assert.match(reason(openNote(`${head} log.example/a ${bytes.toString('base64')}\n`, vkey)), /does not verify/);

    assert.match(reason(openNote(note.replace('world\n\n', 'world\n'), vkey)), /no blank line/);
    assert.equal(openNote(note.slice(0, -1), vkey).ok, false, 'no final newline');
    assert.equal(openNote(`${note}junk\n`, vkey).ok, false, 'a malformed signature line');
    assert.equal(openNote(note.replace('—', '-'), vkey).ok, false, 'hyphen instead of em dash');
    assert.equal(openNote(note.replace('hello', 'hel\tlo'), vkey).ok, false, 'control character');
    assert.equal(openNote('hello\n\n', vkey).ok, false, 'no signatures');
  });

  it('ignores signatures by other keys but not a failing one by the trusted key', () => {
    const a = newKey();
    const b = newKey();
    const text = 'cosigned\n';
    const byA = signNote(text, 'a.example', a);
    const byB = signNote(text, 'b.example', b).split('\n\n')[1];
    const both = `${byA}${byB}`;
    assert.deepEqual(openNote(both, verifierKeyOf('a.example', a)), { ok: true, value: { text, otherSignatures: 1 } });
    assert.deepEqual(openNote(both, verifierKeyOf('b.example', b)), { ok: true, value: { text, otherSignatures: 1 } });
    // Same name, other key: a different key ID, so it is someone else's signature.
    const impostor = signNote(text, 'a.example', newKey()).split('\n\n')[1];
    assert.ok(openNote(`${byA}${impostor}`, verifierKeyOf('a.example', a)).ok);
    assert.equal(openNote(`${signNote(text, 'a.example', newKey())}`, verifierKeyOf('a.example', a)).ok, false);
  });

  it('keeps blank lines inside the text (the last blank line separates)', () => {
    const key = newKey();
    const text = 'para one\n\npara two\n';
    const opened = openNote(signNote(text, 'k', key), verifierKeyOf('k', key));
    assert.ok(opened.ok);
    assert.equal(opened.value.text, text);
  });

  it('refuses to sign what it could not open', () => {
    const key = newKey();
    assert.throws(() => signNote('no newline', 'k', key), TypeError);
    assert.throws(() => signNote('', 'k', key), TypeError);
    assert.throws(() => signNote('tab\there\n', 'k', key), TypeError);
    assert.throws(() => signNote('ok\n', 'has space', key), TypeError);
    assert.throws(() => signNote('ok\n', 'has+plus', key), TypeError);
  });

  it('openNote never throws on garbage', () => {
    const key = newKey();
    const vkey = verifierKeyOf('k', key);
    const note = signNote('a\nb\n', 'k', key);
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.string(), fc.string().map((s) => `${s}\n\n— k ${s}\n`)), fc.nat(), fc.string(), (junk, at, insert) => {
        assert.equal(typeof openNote(junk, vkey).ok, 'boolean');
        const mangled = note.slice(0, at % note.length) + insert + note.slice(at % note.length);
        const r = openNote(mangled, vkey);
        if (r.ok) assert.equal(r.value.text, 'a\nb\n', 'only a mangling outside the signed text can still open');
      }),
      { numRuns: 500 },
    );
  });
});

function reason(r: { ok: boolean; reason?: string }): string {
  assert.equal(r.ok, false);
  return r.reason ?? '';
}
