import type { RequestListener } from 'node:http';
import type { Logger } from 'pino';
import { createApp, type AppAuth } from '../../server/src/app.js';
import { ledgerStatus } from '../../server/src/ledger/ledger-status.js';
import type { Config } from '../../server/src/config/config.js';
import type { Dependencies } from '../../server/src/dependencies.js';
import { createTestAuth, withBearer, type TestAuth } from './test-auth.js';

/** The real app with a test issuer as its trusted issuer. */
export interface AuthedApp {
  /** Requests without an Authorization header act as an admin backend (system/*.cruds). */
  app: RequestListener;
  /** The app as it is: requests carry whatever Authorization header the test sets, or none. */
  rawApp: RequestListener;
  auth: TestAuth;
}

export async function authedApp(deps: Pick<Dependencies, 'service'> & Partial<Pick<Dependencies, 'ledger'>>, config: Config, logger: Logger, extra: Partial<AppAuth> = {}): Promise<AuthedApp> {
  const auth = await createTestAuth({ audience: config.auth.audience });
  const rawApp = createApp({ fhir: deps.service, baseUrl: config.baseUrl, maxBodyBytes: config.maxBodyBytes, logger, auth: { verifier: auth.verifier, ...extra }, ...(deps.ledger ? { ledgerStatus: () => ledgerStatus(deps.ledger as Dependencies['ledger']) } : {}) });
  return { app: withBearer(rawApp, await auth.adminToken()), rawApp, auth };
}
