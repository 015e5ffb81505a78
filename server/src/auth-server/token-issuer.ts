import { signAccessToken, type AccessTokenSettings } from './access-token.js';
import { refreshKind, type Grant } from './grant.js';
import { NO_END, type RefreshTokens } from './refresh-tokens.js';
import type { SigningKey } from './signing-key.js';

/** online_access (SMART): refresh tokens that end with the sign-in; we keep no SSO session, so a fixed span. */
export const ONLINE_ACCESS_SPAN_MS = 12 * 3600_000;

/** The successful token response (RFC 6749 §5.1 plus SMART App Launch's context fields). */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  purpose_of_use: string[];
  patient?: string;
  fhirUser?: string;
  refresh_token?: string;
}

export class TokenIssuer {
  constructor(
    private readonly key: SigningKey,
    private readonly settings: AccessTokenSettings,
    private readonly refreshTokens: RefreshTokens,
  ) {}

  /**
   * Issues an access token for `grant`, plus a refresh token when `familyId` is given and the
   * grant holds offline_access or online_access (a new family from a code; `rotated` is the
   * next token of an existing family from a refresh).
   */
  async issue(grant: Grant, nowMs: number, refresh?: { familyId: string } | { rotated: string }): Promise<TokenResponse> {
    const accessToken = await signAccessToken(this.key, this.settings, grant, nowMs);
    const response: TokenResponse = {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: this.settings.ttlSeconds,
      scope: grant.scopes.join(' '),
      purpose_of_use: [...grant.purposeOfUse],
      ...(grant.patient !== undefined ? { patient: grant.patient } : {}),
      ...(grant.fhirUser !== undefined && grant.scopes.includes('fhirUser') ? { fhirUser: grant.fhirUser } : {}),
    };
    if (refresh && 'rotated' in refresh) {
      // The next token of a rotation exists already and keeps the original grant, even when
      // this access token was narrowed to fewer scopes (RFC 6749 §6).
      response.refresh_token = refresh.rotated;
    } else if (refresh) {
      const kind = refreshKind(grant.scopes);
      if (kind) {
        const notAfterMs = kind === 'online' ? nowMs + ONLINE_ACCESS_SPAN_MS : NO_END;
        response.refresh_token = (await this.refreshTokens.start(refresh.familyId, grant, notAfterMs, nowMs)).refreshToken;
      }
    }
    return response;
  }
}
