import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** test/fixtures/fabric: throw-away identities made with openssl (see its README). */
export const FABRIC_FIXTURE_DIR = fileURLToPath(new URL('../../fixtures/fabric/', import.meta.url));

export interface FixtureIdentity {
  mspId: string;
  certPem: string;
  keyPem: string;
}

const IDENTITIES = {
  'org1-user1': { mspId: 'Org1MSP', dir: 'org1', name: 'user1' },
  'org1-peer0': { mspId: 'Org1MSP', dir: 'org1', name: 'peer0' },
  'org2-user1': { mspId: 'Org2MSP', dir: 'org2', name: 'user1' },
  // Claims Org1MSP, but its issuer is a CA that only shares Org1's CA name.
  'rogue-user1': { mspId: 'Org1MSP', dir: 'rogue', name: 'user1' },
} as const;

export type FixtureIdentityName = keyof typeof IDENTITIES;

function read(relative: string): string {
  return readFileSync(`${FABRIC_FIXTURE_DIR}${relative}`, 'utf8');
}

export function fixtureIdentity(name: FixtureIdentityName): FixtureIdentity {
  const { mspId, dir, name: file } = IDENTITIES[name];
  return { mspId, certPem: read(`${dir}/${file}-cert.pem`), keyPem: read(`${dir}/${file}-key.pem`) };
}

/** Root CA per MSP of the simulated channel. */
export function fixtureMsps(): Record<string, string> {
  return { Org1MSP: read('org1/ca-cert.pem'), Org2MSP: read('org2/ca-cert.pem') };
}

export function fixtureTls(): { caPem: string; certPem: string; keyPem: string } {
  return { caPem: read('tls/ca-cert.pem'), certPem: read('tls/server-cert.pem'), keyPem: read('tls/server-key.pem') };
}
