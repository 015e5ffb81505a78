import request from 'supertest';
import { observation, patient, startTestApp, type TestApp } from './app-fixture.js';
import type { TokenOptions } from '../helpers/test-auth.js';

/**
 * Data for the gate's HTTP tests: two patients (A and B) with lab and vital-sign Observations,
 * an Encounter each, shared directory resources and a Binary, all written by the admin backend.
 */
export const LAB = 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory';

export interface AuthFixture {
  t: TestApp;
  /** GET as a client holding a token minted with `opts`. */
  as(opts: TokenOptions): Promise<Client>;
}

export interface Client {
  token: string;
  get(path: string, headers?: Record<string, string>): request.Test;
  post(path: string, body: unknown, contentType?: string): request.Test;
  put(path: string, body: unknown): request.Test;
  patch(path: string, body: unknown): request.Test;
  delete(path: string): request.Test;
}

function labObservation(id: string, patientId: string, code = '2345-7'): Record<string, unknown> {
  return {
    ...observation(patientId, code, 5.4),
    id,
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    performer: [{ reference: 'Practitioner/doc' }],
  };
}

export async function startAuthFixture(): Promise<AuthFixture> {
  const t = await startTestApp();
  const put = async (r: Record<string, unknown>): Promise<void> => {
    const res = await request(t.app).put(`/fhir/${r.resourceType as string}/${r.id as string}`).set('Content-Type', 'application/fhir+json').send(r);
    if (res.status !== 200 && res.status !== 201) throw new Error(`seeding ${r.resourceType as string}/${r.id as string}: ${res.status} ${JSON.stringify(res.body)}`);
  };
  await put({ resourceType: 'Organization', id: 'org', name: 'General Hospital' });
  await put({ resourceType: 'Practitioner', id: 'doc', name: [{ family: 'Welby' }] });
  await put({ ...patient('Alpha'), id: 'A', managingOrganization: { reference: 'Organization/org' } });
  await put({ ...patient('Bravo'), id: 'B' });
  await put({ ...observation('A', '8867-4', 70), id: 'a-vital' });
  await put(labObservation('a-lab', 'A'));
  await put({ ...observation('B', '8867-4', 80), id: 'b-vital' });
  await put(labObservation('b-lab', 'B'));
  // An absolute reference to this server's Patient/A is in A's compartment too.
  await put({ ...observation('A', '8310-5', 37), id: 'a-abs', subject: { reference: 'http://localhost:8080/fhir/Patient/A' } });
  await put({ resourceType: 'Encounter', id: 'a-enc', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/A' } });
  await put({ resourceType: 'Encounter', id: 'b-enc', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/B' } });
  await put({ resourceType: 'Binary', id: 'bin', contentType: 'text/plain', data: Buffer.from('A private note').toString('base64') });
  const as = async (opts: TokenOptions): Promise<Client> => {
    const token = await t.auth.token(opts);
    const auth = `Bearer ${token}`;
    return {
      token,
      get: (path, headers = {}) => {
        let r = request(t.rawApp).get(path).set('Authorization', auth);
        for (const [k, v] of Object.entries(headers)) r = r.set(k, v);
        return r;
      },
      post: (path, body, contentType = 'application/fhir+json') => request(t.rawApp).post(path).set('Authorization', auth).set('Content-Type', contentType).send(body as object),
      put: (path, body) => request(t.rawApp).put(path).set('Authorization', auth).set('Content-Type', 'application/fhir+json').send(body as object),
      patch: (path, body) => request(t.rawApp).patch(path).set('Authorization', auth).set('Content-Type', 'application/json-patch+json').send(body as object),
      delete: (path) => request(t.rawApp).delete(path).set('Authorization', auth),
    };
  };
  return { t, as };
}

export { labObservation };

/** `Type/id` of a Bundle's entries with the given search mode, sorted. */
export function refsOf(body: { entry?: Array<{ resource?: { resourceType: string; id: string }; search?: { mode?: string } }> }, mode = 'match'): string[] {
  return (body.entry ?? [])
    .filter((e) => (e.search?.mode ?? 'match') === mode)
    .map((e) => `${e.resource?.resourceType}/${e.resource?.id}`)
    .sort();
}
