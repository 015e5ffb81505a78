/**
 * The real server whose HTTP service does not enforce Consents (`enforceConsent: false`), for
 * `npm run bench -- consent`. Decisions are still computed and stored on writes; only the
 * per-request gate is absent. See serve-variant.ts.
 */
import { serveVariant } from './serve-variant.js';

serveVariant('custodian-unenforced', 'CONSENT ENFORCEMENT', { enforceConsent: false });
