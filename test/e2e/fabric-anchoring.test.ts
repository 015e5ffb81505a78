import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent, Bundle, OperationOutcome, Parameters } from '@medplum/fhirtypes';
import { loadConfirmed } from '../../ledger-adapter/fabric/confirmed-anchors.js';
import { CONFIRMED_FILE, checkFabricReceipt, connectFabric, type FabricConnection } from '../../ledger-adapter/fabric/index.js';
import type { AnchorReceipt } from '../../ledger-adapter/src/anchor/ledger-port.js';
import { verifyReceipt } from '../../ledger-adapter/src/verify/receipt.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { createTestAuth, type TestAuth } from '../helpers/test-auth.js';
import { anchoredInBlocks, anchorsInState, fabricConfigFor, fabricEnv, startAnchorGateway, waitFor } from '../support/fabric-gateway/adapter-harness.js';
import type { GatewayServer } from '../support/fabric-gateway/server.js';

/**
 * Issue 7 §3–§4 end to end: the real server (a child process, `server/src/main.ts`) configured
 * with FABRIC_* for the in-process Fabric Gateway (loopback, TLS off, Org1's fixture identity)
 * anchors its checkpoints in the anchor chaincode. Its audited requests end up anchored,
 * `/ledger/status` and `$verify` say so, and a Fabric outage degrades anchoring only: the FHIR API
 * keeps serving and recording, and once the peer is back the backlog is anchored.
 *
 * `$verify` while Fabric is away answers 503: finding the anchor that covers a leaf is a query
 * of the channel (`covering`), and the server does not answer `pending-anchor` when it cannot
 * tell whether an anchor exists; the event listener's confirmed anchors are not used as a
 * fallback, so an old, long-anchored event cannot be verified meanwhile either.
 */

const JSON_HEADERS = { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' };
const param = (p: Parameters, name: string) => p.parameter?.find((x) => x.name === name);

describe('the server anchoring in Fabric', { timeout: 240_000 }, () => {
  let gateway: GatewayServer;
  let issuer: TestAuth;
  let server: ServerProcess;
  let connection: FabricConnection;

  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${server.baseUrl}/${path}`, {
      method,
      headers: { ...JSON_HEADERS, authorization: server.authorization as string },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const ledgerStatus = async (): Promise<{ status: number; body: any }> => {
    const res = await fetch(new URL('/ledger/status', server.baseUrl));
    const text = await res.text();
    assert.equal(res.status, 200, `/ledger/status answered ${res.status}: ${text.slice(0, 300)}`);
    return { status: res.status, body: JSON.parse(text) };
  };
  /** The AuditEvent recording `interaction` on `ref`. */
  const auditEventOf = async (ref: string, interaction: string): Promise<AuditEvent> => {
    const res = await call('GET', `AuditEvent?entity=${ref}&_count=100`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const event = ((res.body as Bundle).entry ?? []).map((e) => e.resource as AuditEvent).find((e) => e.subtype?.[0]?.code === interaction);
    assert.ok(event, `an AuditEvent records the ${interaction} of ${ref}`);
    return event;
  };
  const createPatient = async (family: string): Promise<string> => {
    const res = await call('POST', 'Patient', { resourceType: 'Patient', name: [{ family }] });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id as string;
  };
  /** `$verify` of an AuditEvent that is anchored: verified, with a Fabric receipt the channel and the log's key accept. */
  const assertVerifiedInFabric = async (event: AuditEvent): Promise<AnchorReceipt> => {
    const res = await call('GET', `AuditEvent/${event.id}/$verify`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(param(res.body, 'verdict')?.valueCode, 'verified', JSON.stringify(res.body));
    const anchor = JSON.parse(param(res.body, 'anchorReceipt')?.valueString as string) as AnchorReceipt;
    assert.equal(anchor.ledger, 'fabric');
    assert.match(anchor.txId ?? '', /^[0-9a-f]{64}$/);
    assert.equal((anchor.proof as { channel?: string }).channel, 'custodian');
    assert.deepEqual(await checkFabricReceipt(anchor, connection.anchorContract), { ok: true });
    const receipt = JSON.parse(param(res.body, 'receipt')?.valueString as string) as unknown;
    const record = JSON.parse(param(res.body, 'record')?.valueString as string) as unknown;
    const offline = verifyReceipt(receipt, { verifierKey: param(res.body, 'verifierKey')?.valueString as string, record });
    assert.equal(offline.verdict, 'verified', JSON.stringify(offline.checks));
    assert.equal(param(res.body, 'treeSize')?.valueInteger, anchor.size, 'the receipt is against the anchored checkpoint');
    return anchor;
  };

  before(async () => {
    gateway = await startAnchorGateway();
    connection = connectFabric(fabricConfigFor(gateway.address));
    issuer = await createTestAuth({ audience: 'http://localhost/fhir' });
  });
  after(async () => {
    await server?.dispose();
    connection?.close();
    await gateway?.close();
  });

  it('refuses to start with a misconfigured FABRIC_* variable: exit code 2, the variable named, no stack trace', async () => {
    const env = { ...fabricEnv(gateway.address), FABRIC_KEY_FILE: '/nonexistent/custodian/user1-key.pem' };
    await assert.rejects(startServer({ env, timeoutMs: 60_000 }), (err: Error) => {
      assert.match(err.message, /server exited before it was ready \(code 2,/);
      assert.match(err.message, /Invalid configuration:\n\s+Invalid Fabric configuration:\n\s+FABRIC_KEY_FILE: cannot read \/nonexistent\/custodian\/user1-key.pem: ENOENT/);
      assert.doesNotMatch(err.message, /\n\s+at /, 'no stack trace');
      return true;
    });
  });

  it('anchors audited requests in Fabric: /ledger/status shows it healthy with the latest anchor, $verify answers verified', async () => {
    server = await startServer({
      issuer,
      env: { ...fabricEnv(gateway.address, { extra: { FABRIC_MAX_ATTEMPTS: '2' } }), CHECKPOINT_INTERVAL_MS: '200', ANCHOR_MIN_INTERVAL_MS: '100' },
    });
    const id = await createPatient('Anchored');
    assert.equal((await call('GET', `Patient/${id}`)).status, 200);
    assert.equal((await call('GET', `Patient?family=Anchored`)).status, 200);

    const status = await waitFor(
      'the log to be anchored up to its size',
      async () => {
        const s = await ledgerStatus();
        return s.body.latestAnchor && s.body.unanchoredLeaves === 0 && s.body.anchoring.pending === 0 && s;
      },
      30_000,
      100,
    );
    assert.equal(status.status, 200);
    const body = status.body;
    assert.equal(body.ledger.name, 'fabric');
    assert.equal(body.ledger.healthy, true, body.ledger.detail);
    assert.match(body.ledger.detail, /channel custodian, chaincode custodian-anchor, as Org1MSP: log .* registered by Org1MSP/);
    assert.match(body.latestAnchor.txId, /^[0-9a-f]{64}$/);
    assert.equal(body.latestAnchor.size, body.logSize);
    assert.equal(body.anchoring.lagSeconds, 0);
    assert.equal(body.anchoring.alarm, undefined);
    assert.equal(body.anchorPublicKey, undefined, 'no embedded anchor chain');
    // What the status says is what the peer holds.
    const held = anchorsInState(gateway, body.origin);
    assert.deepEqual([held.at(-1)?.size, held.at(-1)?.txId], [body.latestAnchor.size, body.latestAnchor.txId]);
    // The server's event listener (DATA_DIR/ledger/fabric) confirms it from the chaincode's events.
    const confirmedFile = join(server.dataDir, 'ledger', 'fabric', CONFIRMED_FILE);
    await waitFor('the listener to confirm the latest anchor', async () => {
      const confirmed = existsSync(confirmedFile) ? (await loadConfirmed(confirmedFile)).get(body.origin) : undefined;
      return confirmed?.txId === body.latestAnchor.txId;
    }, 15_000, 100);

    const anchor = await assertVerifiedInFabric(await auditEventOf(`Patient/${id}`, 'create'));
    assert.equal(anchor.origin, body.origin);
  });

  it('keeps serving while the peer is away (status unhealthy, anchoring lag > 0, $verify 503), and anchors the backlog once it is back', async () => {
    assert.ok(server, 'the server of the previous test');
    await gateway.stop();
    const pendingBefore = (await ledgerStatus()).body.anchoring.pending as number;

    // The FHIR API is not the ledger's: reads and writes go on, and are recorded.
    const id = await createPatient('DuringOutage');
    assert.equal((await call('GET', `Patient/${id}`)).status, 200);
    const updated = await call('PUT', `Patient/${id}`, { resourceType: 'Patient', id, name: [{ family: 'DuringOutage', given: ['Updated'] }] });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    const created = await auditEventOf(`Patient/${id}`, 'create');
    await auditEventOf(`Patient/${id}`, 'update');

    const down = await waitFor(
      'checkpoints of the new leaves to wait in the outbox',
      async () => {
        const s = await ledgerStatus();
        return s.body.anchoring.pending > pendingBefore && s.body.anchoring.lagSeconds > 0 && s.body.anchoring.lastError && s;
      },
      30_000,
      100,
    );
    assert.equal(down.status, 200);
    assert.equal(down.body.ledger.name, 'fabric');
    assert.equal(down.body.ledger.healthy, false);
    assert.match(down.body.ledger.detail, /GetLog failed: .*UNAVAILABLE/);
    assert.equal(down.body.latestAnchor, null, 'the latest anchor cannot be read while the peer is away');
    assert.equal(down.body.anchoring.lastError.code, 'LEDGER_UNAVAILABLE');
    assert.equal(down.body.anchoring.alarm, undefined, 'an outage is not an alarm');
    assert.ok(down.body.logSize > 0);

    const verify = await call('GET', `AuditEvent/${created.id}/$verify`);
    assert.equal(verify.status, 503, JSON.stringify(verify.body));
    const outcome = verify.body as OperationOutcome;
    assert.equal(outcome.resourceType, 'OperationOutcome');
    assert.equal(outcome.issue[0]?.code, 'transient');
    assert.match(outcome.issue[0]?.details?.text ?? '', /the ledger cannot be reached to look up the anchor/);

    await gateway.restart();
    const up = await waitFor(
      'the backlog to be anchored',
      async () => {
        const s = await ledgerStatus();
        return s.body.ledger.healthy && s.body.anchoring.pending === 0 && s.body.latestAnchor && s.body.latestAnchor.size >= down.body.logSize && s;
      },
      60_000,
      200,
    );
    assert.equal(up.body.anchoring.lagSeconds, 0);
    assert.equal(up.body.anchoring.alarm, undefined);
    await assertVerifiedInFabric(created);

    // One anchor per size, in order, none twice.
    const committed = anchoredInBlocks(gateway, up.body.origin);
    const sizes = committed.map((a) => a.size);
    assert.deepEqual(sizes, [...new Set(sizes)].sort((a, b) => a - b));
    assert.deepEqual(
      anchorsInState(gateway, up.body.origin).map((a) => a.sequence),
      committed.map((_, i) => i),
    );
  });
});
