import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FABRIC_ENV_VARS, FabricConfigError, fabricConfigFromEnv, isLoopbackEndpoint } from '../../ledger-adapter/fabric/fabric-config.js';

/** Throw-away identities made with openssl: P-256, Ed25519 and P-384 keys with self-signed certificates. */
const dir = mkdtempSync(join(tmpdir(), 'custodian-fabric-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string) => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

before(() => {
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file('p256-key.pem'));
  openssl('req', '-new', '-x509', '-key', file('p256-key.pem'), '-out', file('p256-cert.pem'), '-subj', '/CN=user1/O=Org1', '-days', '2');
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file('other-key.pem'));
  openssl('genpkey', '-algorithm', 'ed25519', '-out', file('ed-key.pem'));
  openssl('req', '-new', '-x509', '-key', file('ed-key.pem'), '-out', file('ed-cert.pem'), '-subj', '/CN=user2', '-days', '2');
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', file('p384-key.pem'));
  openssl('req', '-new', '-x509', '-key', file('p384-key.pem'), '-out', file('p384-cert.pem'), '-subj', '/CN=user3', '-days', '2');
  openssl('ec', '-in', file('p256-key.pem'), '-out', file('sec1-key.pem'));
  openssl('req', '-new', '-x509', '-key', file('other-key.pem'), '-out', file('ca-cert.pem'), '-subj', '/CN=tlsca', '-days', '2');
});

function env(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    FABRIC_PEER_ENDPOINT: 'peer0.org1.example.com:7051',
    FABRIC_TLS_CA_FILE: file('ca-cert.pem'),
    FABRIC_MSP_ID: 'Org1MSP',
    FABRIC_CERT_FILE: file('p256-cert.pem'),
    FABRIC_KEY_FILE: file('p256-key.pem'),
    ...overrides,
  };
}

function problems(vars: Record<string, string | undefined>): string[] {
  try {
    fabricConfigFromEnv(vars);
  } catch (err) {
    assert.ok(err instanceof FabricConfigError, String(err));
    assert.match(err.message, /^Invalid Fabric configuration:\n/);
    return [...err.problems];
  }
  return assert.fail('the configuration was accepted');
}

describe('fabricConfigFromEnv', () => {
  it('selects Fabric only when FABRIC_PEER_ENDPOINT is set', () => {
    assert.equal(fabricConfigFromEnv({ PORT: '8080' }), undefined);
    assert.equal(fabricConfigFromEnv({ FABRIC_PEER_ENDPOINT: '' }), undefined, 'empty means unset');
    assert.deepEqual(problems({ FABRIC_MSP_ID: 'Org1MSP', FABRIC_CHANNEL: 'x' }), ['FABRIC_PEER_ENDPOINT: is required when FABRIC_MSP_ID, FABRIC_CHANNEL are set']);
  });

  it('reads a full configuration with its defaults, and parses the key and certificate at start', () => {
    const c = fabricConfigFromEnv(env())!;
    assert.equal(c.peerEndpoint, 'peer0.org1.example.com:7051');
    assert.equal(c.peerHostAlias, undefined);
    assert.equal(c.mspId, 'Org1MSP');
    assert.equal(c.channel, 'custodian');
    assert.equal(c.chaincode, 'custodian-anchor');
    assert.deepEqual(c.timeouts, { evaluateMs: 5000, endorseMs: 15000, submitMs: 5000, commitStatusMs: 60000 });
    assert.equal(c.maxAttempts, 5);
    assert.equal(c.maxReruns, 5);
    assert.equal(c.keyType, 'p256');
    assert.equal(c.privateKey.type, 'private');
    assert.equal(c.certFile, file('p256-cert.pem'));
    assert.deepEqual(c.certificatePem, readFileSync(file('p256-cert.pem')));
    assert.ok(c.tls.enabled);
    assert.deepEqual(c.tls.enabled && c.tls.caPem, readFileSync(file('ca-cert.pem')));
    assert.ok(Object.isFrozen(c));
  });

  it('takes every variable when given', () => {
    const c = fabricConfigFromEnv(
      env({
        FABRIC_PEER_ENDPOINT: '10.1.2.3:9051',
        FABRIC_PEER_HOST_ALIAS: 'peer0.org2.example.com',
        FABRIC_TLS: 'on',
        FABRIC_MSP_ID: 'Org2MSP',
        FABRIC_CERT_FILE: file('ed-cert.pem'),
        FABRIC_KEY_FILE: file('ed-key.pem'),
        FABRIC_CHANNEL: 'audit.channel-1',
        FABRIC_CHAINCODE: 'anchor_v2',
        FABRIC_EVALUATE_TIMEOUT_MS: '1000',
        FABRIC_ENDORSE_TIMEOUT_MS: '2000',
        FABRIC_SUBMIT_TIMEOUT_MS: '3000',
        FABRIC_COMMIT_STATUS_TIMEOUT_MS: '4000',
        FABRIC_MAX_ATTEMPTS: '7',
        FABRIC_MAX_RERUNS: '0',
      }),
    )!;
    assert.equal(c.peerEndpoint, '10.1.2.3:9051');
    assert.equal(c.peerHostAlias, 'peer0.org2.example.com');
    assert.equal(c.mspId, 'Org2MSP');
    assert.equal(c.keyType, 'ed25519');
    assert.equal(c.channel, 'audit.channel-1');
    assert.equal(c.chaincode, 'anchor_v2');
    assert.deepEqual(c.timeouts, { evaluateMs: 1000, endorseMs: 2000, submitMs: 3000, commitStatusMs: 4000 });
    assert.equal(c.maxAttempts, 7);
    assert.equal(c.maxReruns, 0);
  });

  it('refuses bad values, naming the variable', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ FABRIC_PEER_ENDPOINT: 'peer0.example.com' }, /^FABRIC_PEER_ENDPOINT: must be host:port/],
      [{ FABRIC_PEER_ENDPOINT: 'grpcs://peer0:7051' }, /^FABRIC_PEER_ENDPOINT: must be host:port/],
      [{ FABRIC_PEER_ENDPOINT: 'peer0:70000' }, /^FABRIC_PEER_ENDPOINT: the port must be between 1 and 65535/],
      [{ FABRIC_PEER_HOST_ALIAS: 'not a name' }, /^FABRIC_PEER_HOST_ALIAS: must be a DNS name/],
      [{ FABRIC_TLS: 'maybe' }, /^FABRIC_TLS: must be on or off/],
      [{ FABRIC_MSP_ID: 'Org 1' }, /^FABRIC_MSP_ID: must be an MSP ID/],
      [{ FABRIC_CHANNEL: 'Custodian' }, /^FABRIC_CHANNEL: must be a Fabric channel name/],
      [{ FABRIC_CHAINCODE: 'anchor--v2' }, /^FABRIC_CHAINCODE: must be a chaincode name/],
      [{ FABRIC_EVALUATE_TIMEOUT_MS: 'soon' }, /^FABRIC_EVALUATE_TIMEOUT_MS: must be a whole number of milliseconds/],
      [{ FABRIC_ENDORSE_TIMEOUT_MS: '1.5' }, /^FABRIC_ENDORSE_TIMEOUT_MS: must be a whole number of milliseconds/],
      [{ FABRIC_SUBMIT_TIMEOUT_MS: '0' }, /^FABRIC_SUBMIT_TIMEOUT_MS: must be at least 1 ms/],
      [{ FABRIC_COMMIT_STATUS_TIMEOUT_MS: '3600001' }, /^FABRIC_COMMIT_STATUS_TIMEOUT_MS: must be at most one hour/],
      [{ FABRIC_MAX_ATTEMPTS: '0' }, /^FABRIC_MAX_ATTEMPTS: must be at least 1/],
      [{ FABRIC_MAX_RERUNS: '-1' }, /^FABRIC_MAX_RERUNS: must be a whole number/],
      [{ FABRIC_MAX_RERUNS: '101' }, /^FABRIC_MAX_RERUNS: must be at most 100/],
    ];
    for (const [overrides, expected] of cases) {
      const found = problems(env(overrides));
      assert.equal(found.length, 1, `${JSON.stringify(overrides)}: ${found.join(' | ')}`);
      assert.match(found[0], expected);
    }
  });

  it('requires the identity, and the CA file unless TLS is off', () => {
    for (const name of ['FABRIC_MSP_ID', 'FABRIC_CERT_FILE', 'FABRIC_KEY_FILE']) {
      assert.deepEqual(problems(env({ [name]: undefined })), [`${name}: is required`]);
    }
    assert.deepEqual(problems(env({ FABRIC_TLS_CA_FILE: undefined })), ['FABRIC_TLS_CA_FILE: is required unless FABRIC_TLS=off']);
  });

  it('fails start on files that cannot be read or are not what they should be', () => {
    const missing = file('nowhere.pem');
    const cases: [Record<string, string>, string, RegExp][] = [
      [{ FABRIC_TLS_CA_FILE: missing }, 'unreadable CA', /^FABRIC_TLS_CA_FILE: cannot read .*nowhere\.pem: ENOENT/],
      [{ FABRIC_CERT_FILE: missing }, 'unreadable certificate', /^FABRIC_CERT_FILE: cannot read .*ENOENT/],
      [{ FABRIC_KEY_FILE: missing }, 'unreadable key', /^FABRIC_KEY_FILE: cannot read .*ENOENT/],
      [{ FABRIC_TLS_CA_FILE: file('p256-key.pem') }, 'a key as CA', /^FABRIC_TLS_CA_FILE: holds no PEM certificate/],
      [{ FABRIC_CERT_FILE: file('p256-key.pem') }, 'a key as certificate', /^FABRIC_CERT_FILE: holds no PEM certificate/],
      [{ FABRIC_KEY_FILE: file('sec1-key.pem') }, 'a SEC1 key', /^FABRIC_KEY_FILE: must be a PKCS#8 PEM private key/],
      [{ FABRIC_KEY_FILE: file('p256-cert.pem') }, 'a certificate as key', /^FABRIC_KEY_FILE: must be a PKCS#8 PEM private key/],
      [{ FABRIC_CERT_FILE: file('p384-cert.pem'), FABRIC_KEY_FILE: file('p384-key.pem') }, 'a P-384 key', /^FABRIC_KEY_FILE: must be an EC P-256 or Ed25519 key, not EC secp384r1/],
      [{ FABRIC_KEY_FILE: file('other-key.pem') }, 'another key', /^FABRIC_KEY_FILE: the key is not the private key of the certificate in FABRIC_CERT_FILE/],
    ];
    for (const [overrides, what, expected] of cases) {
      const found = problems(env(overrides));
      assert.equal(found.length, 1, `${what}: ${found.join(' | ')}`);
      assert.match(found[0], expected, what);
    }
    const notPem = problems(env({ FABRIC_CERT_FILE: '/dev/null' }));
    assert.match(notPem[0], /^FABRIC_CERT_FILE: \/dev\/null is not a PEM file/);
  });

  it('reports every faulty file at once', () => {
    const found = problems(env({ FABRIC_TLS_CA_FILE: file('a.pem'), FABRIC_CERT_FILE: file('b.pem'), FABRIC_KEY_FILE: file('c.pem') }));
    assert.deepEqual(found.map((p) => p.slice(0, p.indexOf(':'))), ['FABRIC_TLS_CA_FILE', 'FABRIC_CERT_FILE', 'FABRIC_KEY_FILE']);
  });

  it('allows FABRIC_TLS=off for a loopback endpoint only, and then needs no CA', () => {
    for (const endpoint of ['127.0.0.1:7051', 'localhost:7051', '[::1]:7051', '127.1.2.3:1']) {
      const c = fabricConfigFromEnv(env({ FABRIC_PEER_ENDPOINT: endpoint, FABRIC_TLS: 'off', FABRIC_TLS_CA_FILE: undefined }))!;
      assert.deepEqual(c.tls, { enabled: false }, endpoint);
    }
    for (const endpoint of ['peer0.org1.example.com:7051', '10.0.0.1:7051', '[2001:db8::1]:7051', 'localhost.evil.com:7051']) {
      const found = problems(env({ FABRIC_PEER_ENDPOINT: endpoint, FABRIC_TLS: 'off' }));
      assert.equal(found.length, 1, endpoint);
      assert.match(found[0], /^FABRIC_TLS: off is only allowed for a loopback endpoint/, endpoint);
    }
    assert.equal(isLoopbackEndpoint('127.0.0.1:7051'), true);
    assert.equal(isLoopbackEndpoint('128.0.0.1:7051'), false);
  });

  it('reads files through the injected reader', () => {
    const read: string[] = [];
    const c = fabricConfigFromEnv(
      env({ FABRIC_TLS_CA_FILE: 'mem:ca', FABRIC_CERT_FILE: 'mem:cert', FABRIC_KEY_FILE: 'mem:key' }),
      {
        readFile: (path) => {
          read.push(path);
          return readFileSync(file({ 'mem:ca': 'ca-cert.pem', 'mem:cert': 'ed-cert.pem', 'mem:key': 'ed-key.pem' }[path]!), 'utf8');
        },
      },
    )!;
    assert.deepEqual(read, ['mem:ca', 'mem:cert', 'mem:key']);
    assert.equal(c.keyType, 'ed25519');
  });

  it('lists every variable it reads, with a description, and the defaults it applies', () => {
    const names = FABRIC_ENV_VARS.map((v) => v.name);
    assert.deepEqual(names, [
      'FABRIC_PEER_ENDPOINT',
      'FABRIC_PEER_HOST_ALIAS',
      'FABRIC_TLS',
      'FABRIC_TLS_CA_FILE',
      'FABRIC_MSP_ID',
      'FABRIC_CERT_FILE',
      'FABRIC_KEY_FILE',
      'FABRIC_CHANNEL',
      'FABRIC_CHAINCODE',
      'FABRIC_EVALUATE_TIMEOUT_MS',
      'FABRIC_ENDORSE_TIMEOUT_MS',
      'FABRIC_SUBMIT_TIMEOUT_MS',
      'FABRIC_COMMIT_STATUS_TIMEOUT_MS',
      'FABRIC_MAX_ATTEMPTS',
      'FABRIC_MAX_RERUNS',
    ]);
    for (const v of FABRIC_ENV_VARS) assert.ok(v.description.length > 10 && !v.description.includes('\n'), v.name);
    // A listed default is the one applied: setting it explicitly changes nothing.
    const implicit = fabricConfigFromEnv(env())!;
    const explicit = fabricConfigFromEnv(env(Object.fromEntries(FABRIC_ENV_VARS.filter((v) => v.default !== undefined).map((v) => [v.name, v.default!]))))!;
    assert.deepEqual({ ...explicit, privateKey: undefined }, { ...implicit, privateKey: undefined });
  });
});
