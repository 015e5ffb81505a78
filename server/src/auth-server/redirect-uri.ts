/**
 * Whether `requested` is one of the client's registered redirect URIs. Exact string match
 * (OAuth 2.0 Security BCP, RFC 9700 §4.1.3), with the one exception RFC 8252 §7.3 requires for
 * native apps: a registered loopback IP redirect (http://127.0.0.1/… or http://[::1]/…) matches
 * any port, since the app picks a free port at run time.
 */
export function matchRedirectUri(registered: readonly string[], requested: string): boolean {
  if (registered.includes(requested)) return true;
  let req: URL;
  try {
    req = new URL(requested);
  } catch {
    return false;
  }
  if (!isLoopbackIp(req)) return false;
  return registered.some((r) => {
    const reg = new URL(r);
    return isLoopbackIp(reg) && reg.hostname === req.hostname && reg.pathname === req.pathname && reg.search === req.search && req.hash === '' && req.username === '' && req.password === '';
  });
}

function isLoopbackIp(u: URL): boolean {
  return u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === '[::1]');
}

/** `base` with `params` added to its query (keeping any query it already has, RFC 6749 §3.1.2). */
export function withQuery(base: string, params: Record<string, string | undefined>): string {
  const url = new URL(base);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.append(k, v);
  return url.toString();
}
