import assert from 'node:assert/strict';
import request from 'supertest';
import { consentScenarioBundles } from '../../fixtures/consent-scenarios/scenarios.js';
import type { TokenOptions } from '../helpers/test-auth.js';
import { FHIR_JSON, startTestApp, type TestApp } from './app-fixture.js';

/**
 * The real app holding the consent scenarios (fixtures/consent-scenarios), loaded by the admin
 * backend exactly as the demo seed loads them, and clients for the parties the Consents name.
 */

/** Parties as the demo actors are (fixtures/actors/actors.ts), with `system/*.rs`. */
export const EMPLOYER: TokenOptions = {
  sub: 'demo-employer-backend',
  client_id: 'demo-employer-backend',
  scope: 'system/*.rs',
  fhirUser: 'Organization/org-employer',
  purpose_of_use: ['HPRGRP'],
  roles: ['employer'],
};
export const INSURER: TokenOptions = {
  sub: 'demo-insurer-backend',
  client_id: 'demo-insurer-backend',
  scope: 'system/*.rs',
  fhirUser: 'Organization/org-insurer',
  purpose_of_use: ['HPAYMT'],
  roles: ['insurer'],
};
export const RESEARCH: TokenOptions = {
  sub: 'demo-research-backend',
  client_id: 'demo-research-backend',
  scope: 'system/*.rs',
  fhirUser: 'Organization/org-research',
  purpose_of_use: ['HRESCH'],
  roles: ['research'],
};
/** A clinician by `fhirUser` (pract-1 is on Bruno's care team, pract-2 is not). */
export const clinician = (practitioner: string): TokenOptions => ({
  sub: practitioner,
  client_id: 'demo-clinician-app',
  scope: 'user/*.rs',
  fhirUser: `Practitioner/${practitioner}`,
  purpose_of_use: ['TREAT'],
  roles: ['clinician'],
});

export interface Page {
  status: number;
  body: any;
  headers: Record<string, string>;
}

export interface Client {
  get(path: string, headers?: Record<string, string>): Promise<Page>;
  post(path: string, body: unknown): Promise<Page>;
  /** Every page of a search or history, following `next` links from `path`. */
  pages(path: string): Promise<any[]>;
}

export interface ConsentFixture {
  t: TestApp;
  /** The admin backend (system/*.cruds, HSYSADMIN): writes, and reads as the operations group. */
  admin: Client;
  as(opts: TokenOptions): Promise<Client>;
  /** PUT or DELETE as the admin, asserting success. */
  put(resource: Record<string, unknown>): Promise<any>;
  remove(type: string, id: string): Promise<void>;
}

function client(t: TestApp, auth: string | undefined): Client {
  const withAuth = (r: request.Test): request.Test => (auth ? r.set('Authorization', auth) : r);
  const app = auth ? t.rawApp : t.app;
  const get = async (path: string, headers: Record<string, string> = {}): Promise<Page> => {
    let r = withAuth(request(app).get(path));
    for (const [k, v] of Object.entries(headers)) r = r.set(k, v);
    const res = await r;
    return { status: res.status, body: res.body, headers: res.headers as Record<string, string> };
  };
  return {
    get,
    post: async (path, body) => {
      const res = await withAuth(request(app).post(path)).set('Content-Type', FHIR_JSON).send(body as object);
      return { status: res.status, body: res.body, headers: res.headers as Record<string, string> };
    },
    pages: async (path) => {
      const out: any[] = [];
      for (let next: string | undefined = path; next !== undefined; ) {
        const res = await get(next);
        assert.equal(res.status, 200, `GET ${next}: ${JSON.stringify(res.body)}`);
        out.push(res.body);
        assert.ok(out.length <= 500, 'the next links loop');
        const url = (res.body.link ?? []).find((l: { relation: string }) => l.relation === 'next')?.url as string | undefined;
        next = url === undefined ? undefined : new URL(url).pathname + new URL(url).search;
      }
      return out;
    },
  };
}

export async function startConsentFixture(): Promise<ConsentFixture> {
  const t = await startTestApp();
  const admin = client(t, undefined);
  for (const bundle of consentScenarioBundles()) {
    const res = await admin.post('/fhir', bundle);
    assert.equal(res.status, 200, `loading the consent scenarios: ${JSON.stringify(res.body)}`);
  }
  return {
    t,
    admin,
    as: async (opts) => client(t, `Bearer ${await t.auth.token(opts)}`),
    put: async (resource) => {
      const res = await request(t.app)
        .put(`/fhir/${resource.resourceType as string}/${resource.id as string}`)
        .set('Content-Type', FHIR_JSON)
        .send(resource);
      assert.ok(res.status === 200 || res.status === 201, `PUT ${resource.resourceType as string}/${resource.id as string}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    },
    remove: async (type, id) => {
      const res = await request(t.app).delete(`/fhir/${type}/${id}`);
      assert.ok(res.status === 200 || res.status === 204, `DELETE ${type}/${id}: ${res.status} ${JSON.stringify(res.body)}`);
    },
  };
}

/** `Type/id` of a Bundle's entries in one search mode, sorted. */
export function refs(bundle: any, mode: 'match' | 'include' = 'match'): string[] {
  return ((bundle.entry ?? []) as any[])
    .filter((e) => (e.search?.mode ?? 'match') === mode)
    .map((e) => `${e.resource.resourceType}/${e.resource.id}`)
    .sort();
}

/** `Type/id/_history/v` of a history Bundle's entries (deletions as `Type/id/_history/deleted`), in order. */
export function versions(bundle: any): string[] {
  return ((bundle.entry ?? []) as any[]).map((e) =>
    e.resource ? `${e.resource.resourceType}/${e.resource.id}/_history/${e.resource.meta.versionId}` : `${e.request.url}/_history/deleted`,
  );
}
