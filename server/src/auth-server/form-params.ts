import { OAuthError } from './oauth-error.js';

/**
 * OAuth parameters, from a query string or an application/x-www-form-urlencoded body.
 * RFC 6749 §3.1/§3.2: "Request and response parameters MUST NOT be included more than once",
 * so a repeated parameter is an error rather than a silent first-or-last pick.
 */
export class OAuthParams {
  private constructor(private readonly values: ReadonlyMap<string, string>) {}

  static parse(text: string): OAuthParams {
    const values = new Map<string, string>();
    for (const [k, v] of new URLSearchParams(text)) {
      if (values.has(k)) throw new OAuthError('invalid_request', `parameter ${k} is repeated`);
      values.set(k, v);
    }
    return new OAuthParams(values);
  }

  /** The value, with an empty one treated as absent (RFC 6749 §3.1). */
  get(name: string): string | undefined {
    const v = this.values.get(name);
    return v === '' ? undefined : v;
  }

  require(name: string): string {
    const v = this.get(name);
    if (v === undefined) throw new OAuthError('invalid_request', `${name} is required`);
    return v;
  }
}

/** The query string of a request URL (express may be configured without a query parser). */
export function queryString(originalUrl: string): string {
  const i = originalUrl.indexOf('?');
  return i < 0 ? '' : originalUrl.slice(i + 1);
}
