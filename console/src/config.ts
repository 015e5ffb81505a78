/** What the server tells the page (GET /console/config.json): its FHIR base URL and the console's client id. */
export interface ConsoleConfig {
  readonly fhirBaseUrl: string;
  readonly clientId: string;
}

export async function loadConfig(): Promise<ConsoleConfig> {
  const res = await fetch(new URL('config.json', document.baseURI), { headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`config.json answered ${res.status}`);
  const body = (await res.json()) as Partial<ConsoleConfig>;
  if (typeof body.fhirBaseUrl !== 'string' || typeof body.clientId !== 'string') throw new Error('config.json lacks fhirBaseUrl or clientId');
  return { fhirBaseUrl: body.fhirBaseUrl, clientId: body.clientId };
}

/**
 * The same URL on this page's origin. The server names itself by BASE_URL, which may spell the
 * host differently from the address the browser used (localhost or 127.0.0.1); the console only
 * ever talks to the origin it was loaded from, which is also all its Content-Security-Policy allows.
 */
export function sameOrigin(url: string): string {
  const u = new URL(url);
  return `${location.origin}${u.pathname}${u.search}`;
}
