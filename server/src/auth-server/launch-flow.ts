import type { Logger } from 'pino';
import type { AuthorizationCodes } from './authorization-codes.js';
import { validateAuthorizeRequest } from './authorize-request.js';
import type { ClientRegistration } from './client-registration.js';
import type { ClientRegistry } from './client-registry.js';
import { isPatientUser, launchGrant, launchPurposes, planLaunch, type LaunchPlan } from './launch-plan.js';
import type { OAuthErrorCode } from './oauth-error.js';
import { approvalPage, errorPage, loginPage } from './pages.js';
import type { PatientDirectory, PatientSummary } from './patient-directory.js';
import { MAX_FAILED_LOGINS, type PendingAuthorization, type PendingAuthorizations } from './pending-authorizations.js';
import type { RateLimiter } from './rate-limit.js';
import { withQuery } from './redirect-uri.js';
import type { UserDirectory } from './users.js';

export interface LaunchFlowDeps {
  readonly registry: ClientRegistry;
  readonly users: UserDirectory;
  readonly patients: PatientDirectory;
  readonly pending: PendingAuthorizations;
  readonly codes: AuthorizationCodes;
  /** Bounds password guessing per address. */
  readonly loginLimiter: RateLimiter;
  /** Accepted `aud` values (the FHIR base URL, and the token audience when configured apart). */
  readonly audiences: readonly string[];
  readonly issuer: string;
  readonly now: () => number;
  readonly logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
}

/** What the HTTP adapter sends: a page (optionally setting the sign-in cookie) or a redirect. */
export type FlowResponse =
  | { readonly kind: 'page'; readonly status: number; readonly html: string; readonly startSession?: string; readonly retryAfterSeconds?: number }
  | { readonly kind: 'redirect'; readonly location: string };

/** One form post: its fields, the sign-in cookie the browser sent, the client's address. */
export interface FormPost {
  readonly form: URLSearchParams;
  readonly sessionCookie: string | undefined;
  readonly address: string;
}

/** How many patients the clinician's picker offers. */
const PICKER_SIZE = 50;

/**
 * The SMART standalone launch's user-facing half (SMART App Launch 2.x,
 * https://hl7.org/fhir/smart-app-launch/app-launch.html), framework-free: `authorize`
 * validates the request and shows the sign-in form, `login` checks the password and shows the
 * approval form, `approve` records the user's decision (and launch patient) and sends the
 * browser back to the app with a single-use code. Forms post to `login`/`approve` relative to
 * the authorize URL, so the flow works wherever the router is mounted.
 */
export class LaunchFlow {
  constructor(private readonly deps: LaunchFlowDeps) {}

  async authorize(query: string): Promise<FlowResponse> {
    const v = validateAuthorizeRequest(query, { registry: this.deps.registry, audiences: this.deps.audiences });
    if (v.kind === 'show-error') return page(400, errorPage(v.message));
    if (v.kind === 'redirect-error') return this.redirectError(v.redirectUri, v.state, v.error, v.description);
    const p = this.deps.pending.start(v.request);
    return { ...page(200, loginPage(v.client, { tx: p.id, csrf: p.csrf }, 'login')), startSession: p.id };
  }

  async login(post: FormPost): Promise<FlowResponse> {
    const limited = this.deps.loginLimiter.take(post.address);
    if (!limited.ok) {
      return { ...page(429, errorPage('Too many sign-in attempts from this address. Wait a minute and try again.')), retryAfterSeconds: limited.retryAfterSeconds };
    }
    const p = this.pendingOf(post);
    if (!p) return page(400, errorPage('This sign-in form has expired or did not come from this browser.'));
    const client = this.deps.registry.get(p.request.clientId);
    if (!client) return page(400, errorPage('The application is no longer registered.'));
    const user = await this.deps.users.verify(post.form.get('username') ?? '', post.form.get('password') ?? '');
    if (!user) {
      p.failedLogins += 1;
      this.deps.logger?.warn({ client_id: client.client_id, address: post.address }, 'failed sign-in');
      if (p.failedLogins >= MAX_FAILED_LOGINS) {
        this.deps.pending.finish(p.id);
        return this.redirectError(p.request.redirectUri, p.request.state, 'access_denied', 'too many failed sign-in attempts');
      }
      return page(401, loginPage(client, { tx: p.id, csrf: p.csrf }, 'login', 'Unknown user name or wrong password.'));
    }
    p.user = user;
    const plan = await planLaunch(user, client, p.request, this.deps.patients);
    const problem = planProblem(plan, user.roles);
    if (problem) {
      this.deps.pending.finish(p.id);
      return this.redirectError(p.request.redirectUri, p.request.state, problem.error, problem.description);
    }
    return this.approval(p, client, plan);
  }

  async approve(post: FormPost): Promise<FlowResponse> {
    const p = this.pendingOf(post);
    if (!p?.user) return page(400, errorPage('This approval form has expired or did not come from this browser.'));
    const client = this.deps.registry.get(p.request.clientId);
    if (!client) return page(400, errorPage('The application is no longer registered.'));
    const { request, user } = p;
    if (post.form.get('decision') !== 'approve') {
      this.deps.pending.finish(p.id);
      return this.redirectError(request.redirectUri, request.state, 'access_denied', 'the user denied access');
    }
    const plan = await planLaunch(user, client, request, this.deps.patients);
    const problem = planProblem(plan, user.roles);
    if (problem) {
      this.deps.pending.finish(p.id);
      return this.redirectError(request.redirectUri, request.state, problem.error, problem.description);
    }
    let patient: PatientSummary | undefined;
    if (plan.needsPatient) {
      if (isPatientUser(user)) {
        patient = plan.ownPatient;
      } else {
        const chosen = post.form.get('patient');
        patient = chosen ? await this.deps.patients.get(chosen) : undefined;
        if (!patient) return this.approval(p, client, plan, 'Choose the patient this application may access.');
      }
    }
    const purposes = launchPurposes(client, request, post.form.get('purpose_of_use') ?? undefined);
    if (!purposes) return this.approval(p, client, plan, 'Choose one of the purposes offered.');
    const grant = launchGrant(user, client, plan, patient, purposes);
    const code = await this.deps.codes.issue({ clientId: client.client_id, redirectUri: request.redirectUri, codeChallenge: request.codeChallenge, grant }, this.deps.now());
    this.deps.pending.finish(p.id);
    this.deps.logger?.info({ client_id: client.client_id, sub: grant.subject, patient: grant.patient, scope: grant.scopes.join(' ') }, 'launch approved');
    return { kind: 'redirect', location: withQuery(request.redirectUri, { code, state: request.state, iss: this.deps.issuer }) };
  }

  private pendingOf(post: FormPost): PendingAuthorization | undefined {
    return this.deps.pending.find(post.form.get('tx') ?? undefined, post.sessionCookie, post.form.get('csrf') ?? undefined);
  }

  private async approval(p: PendingAuthorization, client: ClientRegistration, plan: LaunchPlan, error?: string): Promise<FlowResponse> {
    const user = p.user!;
    const patients = plan.needsPatient && !isPatientUser(user) ? await this.deps.patients.list(PICKER_SIZE) : undefined;
    const html = approvalPage(
      {
        client,
        userName: user.displayName,
        scopes: plan.scopes,
        purposes: client.purposes_of_use,
        defaultPurpose: (launchPurposes(client, p.request, undefined) ?? client.purposes_of_use)[0]!,
        ...(patients ? { patients } : {}),
        ...(plan.needsPatient && plan.ownPatient ? { fixedPatient: plan.ownPatient } : {}),
        ...(error ? { error } : {}),
      },
      { tx: p.id, csrf: p.csrf },
      'approve',
    );
    return page(error ? 400 : 200, html);
  }

  /** RFC 6749 §4.1.2.1: errors go back to a verified redirect URI, with the app's state. */
  private redirectError(redirectUri: string, state: string | undefined, error: OAuthErrorCode, description: string): FlowResponse {
    return { kind: 'redirect', location: withQuery(redirectUri, { error, error_description: description, state, iss: this.deps.issuer }) };
  }
}

function planProblem(plan: LaunchPlan, roles: readonly string[]): { error: OAuthErrorCode; description: string } | undefined {
  if (plan.scopes.length === 0) return { error: 'invalid_scope', description: 'this user cannot grant any of the requested scopes' };
  if (plan.needsPatient && roles.includes('patient') && !plan.ownPatient) {
    return { error: 'access_denied', description: "the signed-in patient's record is not on this server" };
  }
  return undefined;
}

function page(status: number, html: string): { kind: 'page'; status: number; html: string } {
  return { kind: 'page', status, html };
}
