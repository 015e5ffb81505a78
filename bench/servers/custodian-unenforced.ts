/**
 * The real server whose HTTP service does not enforce Consents (`enforceConsent: false`), for
 * `npm run bench -- consent`. Decisions are still computed and stored on writes; only the
 * per-request gate is absent. See serve-variant.ts.
 */
import { serveVariant } from './serve-variant.js';

// The consent benchmark turns auditing off in both of its servers unless told otherwise
// (BENCH_CONSENT_AUDIT), so that only the consent gate differs.
const audit = process.env.BENCH_TWIN_AUDIT !== 'off';
serveVariant('custodian-unenforced', audit ? 'CONSENT ENFORCEMENT' : 'CONSENT ENFORCEMENT OR REQUEST AUDITING', { enforceConsent: false, audit });
