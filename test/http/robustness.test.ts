import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { Prng } from '../../fixtures/population/prng.js';
import { FHIR_JSON, patient, startTestApp, type TestApp } from './app-fixture.js';

/**
 * Seeded random garbage against every route shape: whatever a client sends, the answer is a
 * well-formed response below 500, and errors are OperationOutcomes. Deterministic (fixed seed)
 * so a failure reproduces.
 */
describe('robustness: random client input never causes a 5xx', () => {
  let t: TestApp;
  const existing = 'robust-1';
  before(async () => {
    t = await startTestApp();
    await request(t.app).put(`/fhir/Patient/${existing}`).send(patient('Robust', { id: existing }));
  });
  after(async () => {
    await t.close();
  });

  const rng = new Prng(20261121);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)] as T;
  const weird = ['', ' ', '%E0%A4%A', '//evil.example', '%2F..%2F', '%00', '..', '$everything', '_history', 'ünïcode', '😀', 'a'.repeat(300), '-1', '1e309', '__proto__', 'constructor', '$where', '{"$gt":""}', '[]', 'null'];
  const scalar = (): unknown => pick([null, true, false, 0, -1, 1e309, 3.14, '', 'x', '__proto__', '2020-13-45', pick(weird)]);
  const value = (depth: number): unknown => {
    if (depth > 3) return scalar();
    const r = rng.int(0, 3);
    if (r === 0) return scalar();
    if (r === 1) return Array.from({ length: rng.int(0, 3) }, () => value(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = rng.int(0, 4); i > 0; i--) o[pick(['resourceType', 'id', 'meta', 'name', 'entry', 'request', 'subject', 'reference', 'status', 'code', 'extension', 'value', 'contained', pick(weird)])] = value(depth + 1);
    return o;
  };
  const body = (): unknown => {
    const base = value(0);
    if (rng.chance(0.5) && base && typeof base === 'object' && !Array.isArray(base)) {
      (base as Record<string, unknown>).resourceType = pick(['Patient', 'Bundle', 'Observation', 'AuditEvent', 'Nope', 42]);
      if (rng.chance(0.5)) (base as Record<string, unknown>).type = pick(['transaction', 'batch', 'collection']);
    }
    return base;
  };
  const path = (): string => {
    const type = pick(['Patient', 'Observation', 'Bundle', 'AuditEvent', 'Nope', '', pick(weird)]);
    const id = pick([existing, 'missing', pick(weird)]);
    return pick([
      '',
      `${type}`,
      `${type}/${encodeURIComponent(id)}`,
      `${type}/${encodeURIComponent(id)}/_history`,
      `${type}/${encodeURIComponent(id)}/_history/${pick(['1', '0', 'x', '-3', '999999999999'])}`,
      `${type}/_search`,
      `${type}/_history`,
      `${type}/$validate`,
      `${type}/${encodeURIComponent(id)}/${pick(weird)}/${pick(weird)}`,
    ]);
  };
  const query = (): string => {
    const params = new URLSearchParams();
    for (let i = rng.int(0, 4); i > 0; i--) {
      params.append(
        pick(['_count', '_offset', '_sort', '_since', '_summary', '_elements', '_total', '_include', 'name', 'birthdate', 'patient', 'code', 'date', 'subject:Patient.name', 'value-quantity', '_id', 'identifier:of-type', pick(weird)]),
        pick([pick(weird), 'ge2020', 'xx2020', '1|2|3|4', 'a,b,,c', '-5', '5.5', 'http://loinc.org|', '|', 'true']),
      );
    }
    const s = params.toString();
    return s ? `?${s}` : '';
  };

  for (let i = 0; i < 300; i++) {
    const method = pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const);
    const url = `/fhir/${path()}${query()}`;
    const contentType = pick([FHIR_JSON, 'application/json', 'application/json-patch+json', 'application/x-www-form-urlencoded', 'text/plain', 'application/fhir+json; charset=latin1']);
    const payload = rng.chance(0.15) ? '{"broken": ' : JSON.stringify(body());
    const headers: Record<string, string> = {};
    if (rng.chance(0.2)) headers['If-Match'] = pick(['W/"1"', '"x"', 'garbage', 'W/""']);
    if (rng.chance(0.2)) headers['If-None-Exist'] = pick(['identifier=a|b', '', 'nope=1', '_id=x']);
    if (rng.chance(0.2)) headers.Prefer = pick(['handling=strict', 'return=minimal', 'return=OperationOutcome', 'respond-async']);
    it(`#${i} ${method} ${url.slice(0, 80)}`, async () => {
      let req = request(t.app)[method.toLowerCase() as 'get'](url);
      for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
      if (method !== 'GET' && method !== 'HEAD' && method !== 'DELETE') req = req.set('Content-Type', contentType).send(payload);
      const res = await req;
      assert.ok(res.status < 500, `status ${res.status}: ${(res.text ?? '').slice(0, 300)}`);
      if (res.status >= 400 && method !== 'HEAD') assert.equal(res.body.resourceType, 'OperationOutcome', (res.text ?? '').slice(0, 200));
    });
  }
});
