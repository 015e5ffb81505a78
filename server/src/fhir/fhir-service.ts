import { AccessPolicy } from '../auth/access-policy.js';
import { authorizeInteraction, InsufficientScopeError } from '../auth/authorize-interaction.js';
import { SERVER_PRINCIPAL, type Principal } from '../auth/principal.js';
import type { Permission } from '../auth/scopes.js';
import { ScopedStore } from '../auth/scoped-store.js';
import type { ConsentEngine } from '../consent/consent-engine.js';
import { ConsentGate } from '../consent/consent-gate.js';
import { AccessTrace } from '../audit/access-trace.js';
import type { RequestAuditor } from '../audit/request-auditor.js';
import type { FhirContext } from './fhir-context.js';
import type { FhirHandler, FhirRequest, FhirResponse } from './fhir-request.js';
import { assertTarget, assertWritable } from './interactions/write-guard.js';
import { FhirError, normaliseError } from './outcomes.js';
import { ROUTES, matchRoute, type Route, type RouteMatch } from './routes.js';


function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new FhirError('bad-request', `Malformed percent-encoding in the path: '${s}'`);
  }
}

export interface FhirServiceDeps {
  /** The context acting as the server; each request gets a copy scoped to its principal. */
  ctx: FhirContext;
  /** Called with unexpected errors (bugs) before they become a generic 500 outcome. */
  onInternalError(err: unknown, req: FhirRequest): void;
  /**
   * The consent engine whose gate every request's reads pass through. Only code that builds a
   * service by hand can leave it out (the unenforced side of the consent benchmark).
   */
  consent?: { readonly engine: ConsentEngine; readonly breakGlassRoles: readonly string[] };
  /**
   * Records every request as AuditEvents before its response leaves (fail closed: 503, no
   * data, when they cannot be stored). Absent only where a service is built by hand without
   * an audit trail (tests of other parts, the benchmark's comparison servers).
   */
  audit?: RequestAuditor;
}

/** What dispatch learnt of a request, for its audit record. */
interface Dispatched {
  route?: Route;
  match?: RouteMatch;
  ctx?: FhirContext;
}

/**
 * The framework-free FHIR core: FhirRequest in, FhirResponse out, never throws. Every request
 * must carry a principal (401 otherwise); its interaction is checked against the principal's
 * scopes and purpose, and the handler runs on a context whose store is scoped to what the
 * principal may reach, so no handler ever sees the unscoped store.
 */
export class FhirService implements FhirHandler {
  constructor(private readonly deps: FhirServiceDeps) {}

  async handle(req: FhirRequest): Promise<FhirResponse> {
    const trace = new AccessTrace();
    const seen: Dispatched = {};
    let res: FhirResponse;
    let outcomeText: string | undefined;
    try {
      res = await this.dispatch(req, trace, seen);
    } catch (err) {
      const { status, outcome, internal } = normaliseError(err);
      if (internal) this.deps.onInternalError(err, req);
      outcomeText = outcome.issue?.[0]?.details?.text ?? outcome.issue?.[0]?.diagnostics;
      // RFC 6750 §3.1: a 403 for scope says so in a challenge too.
      const headers = err instanceof InsufficientScopeError ? { 'WWW-Authenticate': 'Bearer error="insufficient_scope"' } : undefined;
      res = { status, body: outcome, ...(headers ? { headers } : {}) };
    }
    return this.audited(req, res, outcomeText, trace, seen);
  }

  /** The response, once its AuditEvents are durable; a 503 without data when they cannot be. */
  private async audited(req: FhirRequest, res: FhirResponse, outcomeText: string | undefined, trace: AccessTrace, seen: Dispatched): Promise<FhirResponse> {
    const auditor = this.deps.audit;
    if (!auditor || !req.principal || !seen.route) return res;
    try {
      await auditor.audit({
        req,
        principal: req.principal,
        interaction: seen.route.interaction,
        ...(seen.route.operation ? { operation: seen.route.operation } : {}),
        ...(seen.match?.type ? { resourceType: seen.match.type } : {}),
        ...(seen.match?.id ? { instanceId: seen.match.id } : {}),
        status: res.status,
        ...(outcomeText ? { outcomeText } : {}),
        trace,
        ...(seen.ctx?.consent ? { gate: seen.ctx.consent } : {}),
      });
      return res;
    } catch (err) {
      this.deps.onInternalError(err, req);
      const { status, outcome } = normaliseError(new FhirError('unavailable', 'The audit trail could not be written, so no data is sent; try again later'));
      return { status, body: outcome, headers: { 'Retry-After': '5' } };
    }
  }

  private async dispatch(req: FhirRequest, trace: AccessTrace, seen: Dispatched): Promise<FhirResponse> {
    const principal = req.principal;
    if (!principal) throw new FhirError('unauthorized', 'The request carries no authenticated principal');
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const segments = req.path === '' ? [] : req.path.split('/').map(decodeSegment);
    let pathMatched = false;
    for (const route of ROUTES) {
      const m = matchRoute(route.pattern, segments);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      seen.route = route;
      seen.match = m;
      this.check(route, m, req);
      const ctx = this.contextFor(principal, route, m, req, trace);
      seen.ctx = ctx;
      const res = await route.handle(ctx, req, m, this.routerFor(principal));
      const gate = ctx.consent;
      if (!gate || gate.breakGlassAccesses.length === 0) return res;
      // The record is the price of breaking the glass: the request's AuditEvents carry the BTG
      // label (audited() stores them before the response leaves). A service without an audit
      // trail cannot record it, so it refuses.
      if (!this.deps.audit) throw new FhirError('unavailable', 'Break-the-glass access needs the audit trail, which this service runs without');
      return { ...res, headers: { ...(res.headers ?? {}), 'X-Break-The-Glass': String(gate.breakGlassAccesses.length) } };
    }
    if (pathMatched) throw new FhirError('method-not-allowed', `${req.method} is not allowed on /${req.path}`);
    throw new FhirError('not-found', `No FHIR interaction at /${req.path}`);
  }

  private check(route: Route, m: RouteMatch, req: FhirRequest): void {
    if (m.type === undefined) return;
    if (route.writes) assertWritable(this.deps.ctx.defs, m.type, m.id, req.method);
    else assertTarget(this.deps.ctx.defs, m.type, m.id);
  }

  /** The request's own context: its principal, and the store scoped to it. */
  private contextFor(principal: Principal, route: Route, m: RouteMatch, req: FhirRequest, trace: AccessTrace): FhirContext {
    const root = this.deps.ctx;
    const policy = new AccessPolicy(principal, { defs: root.defs, store: root.store, baseUrl: req.baseUrl });
    // Routes that declare their own authorization (Route.authorize) decide for themselves; they
    // throw for whatever they refuse, like authorizeInteraction.
    const readAs: readonly Permission[] | undefined = route.authorize
      ? route.authorize(policy, m)
      : authorizeInteraction(policy, {
          interaction: route.interaction,
          ...(m.type !== undefined ? { type: m.type } : {}),
          ...(route.interaction === 'search-system' ? { searchTypes: this.namedTypes(req) } : {}),
        });
    return this.scopedContext(principal, policy, readAs ?? [], trace);
  }

  /**
   * A context for `principal` outside an HTTP request (the Bulk Data export worker): the same
   * ConsentGate and ScopedStore a search of that principal gets, reading with `readAs`. No
   * access trace: a background job's reads are recorded by its own AuditEvents.
   */
  contextForPrincipal(principal: Principal, baseUrl: string, readAs: readonly Permission[]): FhirContext {
    const root = this.deps.ctx;
    const policy = new AccessPolicy(principal, { defs: root.defs, store: root.store, baseUrl });
    return this.scopedContext(principal, policy, readAs, undefined);
  }

  private scopedContext(principal: Principal, policy: AccessPolicy, readAs: readonly Permission[], trace: AccessTrace | undefined): FhirContext {
    const root = this.deps.ctx;
    // Public interactions (the CapabilityStatement) read no data: give them a store that reaches nothing.
    const consent = this.deps.consent ? new ConsentGate(principal, this.deps.consent.engine, root.store, { breakGlassRoles: this.deps.consent.breakGlassRoles }) : undefined;
    const store = new ScopedStore({ base: root.store, policy, defs: root.defs, readAs, ...(trace ? { trace } : {}), ...(consent ? { consent } : {}) });
    // Only keys the root context already has (dependencies.ts), so V8 clones it on its fast path.
    return { ...root, principal, store, consent };
  }

  /** Types a system search names in `_type` (unknown names are the handler's 400, not a 403). */
  private namedTypes(req: FhirRequest): string[] {
    const given = req.query._type;
    if (given === undefined) return [];
    return given.flatMap((v) => v.split(',')).map((t) => t.trim()).filter((t) => this.deps.ctx.defs.isResourceType(t));
  }

  /**
   * Batch and transaction entries run as the request that carries them: whatever principal a
   * sub-request was built with, the entry acts for the bundle's.
   */
  private routerFor(principal: Principal): FhirHandler {
    return { handle: (sub) => this.handle({ ...sub, principal }) };
  }
}

/**
 * The FHIR core for in-process callers that act as the server itself (seeding on first start,
 * `npm run seed`, `npm run import`): requests without a principal run as SERVER_PRINCIPAL.
 * Only code that already holds the store can build this; the HTTP edge uses the FhirService,
 * which answers 401 to a request without a principal.
 */
export function actingAsServer(service: FhirService): FhirHandler {
  return { handle: (req) => service.handle(req.principal ? req : { ...req, principal: SERVER_PRINCIPAL }) };
}
