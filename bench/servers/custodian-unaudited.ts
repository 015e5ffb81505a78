/**
 * The real server that does not record requests as AuditEvents (`audit: false`), for
 * `npm run bench -- audit`. Consent is enforced and every stored version still becomes a Merkle
 * log leaf; checkpoints are signed and anchored. See serve-variant.ts.
 */
import { serveVariant } from './serve-variant.js';

serveVariant('custodian-unaudited', 'REQUEST AUDITING', { audit: false });
