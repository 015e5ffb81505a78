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
  ctx: FhirContext;
  /** Called with unexpected errors (bugs) before they become a generic 500 outcome. */
  onInternalError(err: unknown, req: FhirRequest): void;
}

/** The framework-free FHIR core: FhirRequest in, FhirResponse out, never throws. */
export class FhirService implements FhirHandler {
  constructor(private readonly deps: FhirServiceDeps) {}

  async handle(req: FhirRequest): Promise<FhirResponse> {
    try {
      return await this.dispatch(req);
    } catch (err) {
      const { status, outcome, internal } = normaliseError(err);
      if (internal) this.deps.onInternalError(err, req);
      return { status, body: outcome };
    }
  }

  private async dispatch(req: FhirRequest): Promise<FhirResponse> {
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const segments = req.path === '' ? [] : req.path.split('/').map(decodeSegment);
    let pathMatched = false;
    for (const route of ROUTES) {
      const m = matchRoute(route.pattern, segments);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      this.check(route, m, req);
      return route.handle(this.deps.ctx, req, m, this);
    }
    if (pathMatched) throw new FhirError('method-not-allowed', `${req.method} is not allowed on /${req.path}`);
    throw new FhirError('not-found', `No FHIR interaction at /${req.path}`);
  }

  private check(route: Route, m: RouteMatch, req: FhirRequest): void {
    if (m.type === undefined) return;
    if (route.writes) assertWritable(this.deps.ctx.defs, m.type, m.id, req.method);
    else assertTarget(this.deps.ctx.defs, m.type, m.id);
  }
}
