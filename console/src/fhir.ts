import { sameOrigin } from './config';

/** A FHIR answer that is not 2xx, with the OperationOutcome's text. */
export class FhirRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type Json = Record<string, unknown>;

/** Calls the FHIR API with the session's bearer token, always on this page's origin. */
export class Fhir {
  private readonly base: string;

  constructor(
    fhirBaseUrl: string,
    private readonly token: string,
    private readonly onUnauthorized: () => void,
  ) {
    this.base = sameOrigin(fhirBaseUrl).replace(/\/+$/, '');
  }

  get<T = Json>(path: string): Promise<T> {
    return this.send<T>('GET', path);
  }

  post<T = Json>(path: string, body?: unknown): Promise<T> {
    return this.send<T>('POST', path, body);
  }

  put<T = Json>(path: string, body: unknown): Promise<T> {
    return this.send<T>('PUT', path, body);
  }

  private async send<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.base}/${path}`, {
      method,
      headers: {
        accept: 'application/fhir+json',
        authorization: `Bearer ${this.token}`,
        ...(body !== undefined ? { 'content-type': 'application/fhir+json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    const json = text ? (JSON.parse(text) as Json) : {};
    if (res.status === 401) this.onUnauthorized();
    if (!res.ok) throw new FhirRequestError(res.status, `${method} ${path.split('?')[0]}: ${res.status} ${outcomeText(json)}`);
    return json as T;
  }
}

function outcomeText(body: Json): string {
  const issues = (body.issue as { details?: { text?: string }; diagnostics?: string }[] | undefined) ?? [];
  return issues.map((i) => i.details?.text ?? i.diagnostics ?? '').filter(Boolean).join('; ');
}

/** A Parameters resource's parameters named `name`. */
export interface Param {
  name: string;
  part?: Param[];
  valueCode?: string;
  valueString?: string;
  valueBoolean?: boolean;
  valueInteger?: number;
  valueBase64Binary?: string;
  valueReference?: { reference?: string };
  valueCoding?: { system?: string; code?: string; display?: string };
}

export function params(p: { parameter?: Param[] } | Param, name: string): Param[] {
  const list = 'parameter' in p ? p.parameter : (p as Param).part;
  return (list ?? []).filter((x) => x.name === name);
}

export function param(p: { parameter?: Param[] } | Param, name: string): Param | undefined {
  return params(p, name)[0];
}

export function paramText(p: Param | undefined): string | undefined {
  if (!p) return undefined;
  return p.valueCode ?? p.valueString ?? p.valueReference?.reference ?? p.valueCoding?.code ?? (p.valueInteger !== undefined ? String(p.valueInteger) : undefined) ?? (p.valueBoolean !== undefined ? String(p.valueBoolean) : undefined) ?? p.valueBase64Binary;
}

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  });
  await Promise.all(workers);
}
