import type { RequestListener } from 'node:http';
import request from 'supertest';
import { CONFORMANCE_BASE } from './search-conformance-app.js';

/** A searchset Bundle as the tests read it. */
export interface SearchBundle {
  resourceType: string;
  type?: string;
  total?: number;
  link?: Array<{ relation: string; url: string }>;
  entry?: Array<{ fullUrl?: string; resource?: Record<string, any>; search?: { mode?: string } }>;
  issue?: Array<{ severity?: string; code?: string; diagnostics?: string; details?: { text?: string }; expression?: string[] }>;
}

export interface SearchResponse {
  status: number;
  body: SearchBundle;
}

/**
 * Turns a readable query ("Patient?name=Müller&_sort=-date") into a request path, percent-encoding
 * each value so accents, `|`, `$` and commas reach the server exactly as written.
 */
export function searchPath(query: string): string {
  const q = query.indexOf('?');
  const path = q < 0 ? query : query.slice(0, q);
  const qs = q < 0 ? '' : query.slice(q + 1);
  const parts = qs === '' ? [] : qs.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    // Keys keep `:`, `.`, `$` and brackets raw: modifiers, chains and bracket-style injection
    // attempts must reach the server as a client would type them.
    const rawKey = key.replace(/[^A-Za-z0-9_\-.:$[\]~!*'()]/g, (ch) => encodeURIComponent(ch));
    return `${rawKey}=${encodeURIComponent(value)}`;
  });
  return `/fhir/${path}${parts.length > 0 ? `?${parts.join('&')}` : ''}`;
}

export async function search(app: RequestListener, query: string, headers: Record<string, string> = {}): Promise<SearchResponse> {
  let req = request(app).get(searchPath(query));
  for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
  const res = await req;
  return { status: res.status, body: res.body as SearchBundle };
}

/** Follows an absolute link from a Bundle (it starts with the configured base URL). */
export async function follow(app: RequestListener, url: string): Promise<SearchResponse> {
  if (!url.startsWith(CONFORMANCE_BASE)) throw new Error(`link outside the base URL: ${url}`);
  const res = await request(app).get(`/fhir${url.slice(CONFORMANCE_BASE.length)}`);
  return { status: res.status, body: res.body as SearchBundle };
}

export function entriesOfMode(body: SearchBundle, mode: string): Array<Record<string, any>> {
  return (body.entry ?? []).filter((e) => e.search?.mode === mode).map((e) => e.resource ?? {});
}

/** Ids of the `match` entries, in Bundle order. */
export function matchIds(body: SearchBundle): string[] {
  return entriesOfMode(body, 'match').map((r) => String(r.id));
}

/** "Type/id" of the `include` entries, sorted. */
export function includeRefs(body: SearchBundle): string[] {
  return entriesOfMode(body, 'include').map((r) => `${r.resourceType}/${r.id}`).sort();
}

export function link(body: SearchBundle, relation: string): string | undefined {
  return body.link?.find((l) => l.relation === relation)?.url;
}

/** The texts of every issue in the Bundle's `outcome` entries (lenient-handling warnings). */
export function outcomeTexts(body: SearchBundle): string[] {
  return entriesOfMode(body, 'outcome').flatMap((o) =>
    ((o.issue as SearchBundle['issue']) ?? []).map((i) => `${i.details?.text ?? ''} ${i.diagnostics ?? ''} ${(i.expression ?? []).join(' ')}`),
  );
}

/** The texts of an OperationOutcome body's issues. */
export function issueTexts(body: SearchBundle): string[] {
  return (body.issue ?? []).map((i) => `${i.details?.text ?? ''} ${i.diagnostics ?? ''} ${(i.expression ?? []).join(' ')}`);
}

/**
 * Walks a search through its `next` links and returns the match ids of every page in order.
 * Stops with an error after `maxPages` so a link loop cannot hang the suite.
 */
export async function walkPages(app: RequestListener, query: string, maxPages = 50): Promise<{ pages: string[][]; totals: Array<number | undefined> }> {
  const pages: string[][] = [];
  const totals: Array<number | undefined> = [];
  let res = await search(app, query);
  for (;;) {
    if (res.status !== 200) throw new Error(`page ${pages.length + 1} of ${query}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 500)}`);
    pages.push(matchIds(res.body));
    totals.push(res.body.total);
    const next = link(res.body, 'next');
    if (!next) return { pages, totals };
    if (pages.length >= maxPages) throw new Error(`more than ${maxPages} pages for ${query}`);
    res = await follow(app, next);
  }
}

/** The same search as `POST [type]/_search` with the parameters form-encoded in the body (R4 §3.1.1.1). */
export async function searchPost(app: RequestListener, query: string, headers: Record<string, string> = {}): Promise<SearchResponse> {
  const path = searchPath(query);
  const q = path.indexOf('?');
  const base = q < 0 ? path : path.slice(0, q);
  let req = request(app).post(`${base}/_search`).set('Content-Type', 'application/x-www-form-urlencoded');
  for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
  const res = await req.send(q < 0 ? '' : path.slice(q + 1));
  return { status: res.status, body: res.body as SearchBundle };
}
