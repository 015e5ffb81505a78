import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Response, type Router } from 'express';

/**
 * The web console (console/, built by Vite into console/dist) served at `/console/` as plain
 * static files: nothing is fetched from a CDN and nothing is rendered on the server apart from
 * `config.json`, which tells the page where the FHIR base is and which client id to launch
 * with (both known only to the running server).
 */
export interface ConsoleSite {
  /** The build output (console/dist). Checked on every request, so building while the server runs works. */
  readonly dir: string;
  /** The console's registered SMART client id. */
  readonly clientId: string;
}

export const CONSOLE_PATH = '/console';

/** Where `npm run build:console` puts the console (console/dist, git-ignored). */
export const CONSOLE_DIST = resolve(fileURLToPath(new URL('../../../console/dist', import.meta.url)));

/**
 * Vite names every asset after a hash of its content, so an asset URL never changes meaning and
 * can be cached for good; index.html names the current assets and must be revalidated.
 */
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

/**
 * The page talks only to its own origin; it has no inline script or style, so the policy needs
 * no 'unsafe-inline'. The authorization code arrives in the URL, hence no Referer.
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

export function consoleRouter(site: ConsoleSite, fhirBaseUrl: string): Router {
  const router = express.Router({ strict: true });
  const files = express.static(site.dir, {
    index: ['index.html'],
    dotfiles: 'ignore',
    redirect: false,
    fallthrough: true,
    setHeaders: (res, path) => {
      res.setHeader('Cache-Control', path.startsWith(join(site.dir, 'assets')) ? IMMUTABLE : REVALIDATE);
    },
  });
  router.use((req, res, next) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    next();
  });
  router.get('/config.json', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ fhirBaseUrl, clientId: site.clientId });
  });
  router.use((req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.set('Allow', 'GET, HEAD');
      page(res, 405, 'Method not allowed', 'The console is static files: only GET and HEAD.');
      return;
    }
    // The page itself is the OAuth redirect URI: one canonical URL, with its trailing slash.
    if (req.originalUrl.split('?')[0] === CONSOLE_PATH) {
      const query = req.originalUrl.slice(CONSOLE_PATH.length);
      res.redirect(301, `${CONSOLE_PATH}/${query}`);
      return;
    }
    if (!existsSync(join(site.dir, 'index.html'))) {
      res.set('Retry-After', '60');
      page(res, 503, 'The console is not built', 'Build it with <code>npm run build:console</code> (npm install and npm ci run it), then reload this page.');
      return;
    }
    files(req, res, next);
  });
  router.use((req, res) => page(res, 404, 'Not found', `The console has no file at <code>${escapeHtml(req.path)}</code>.`));
  return router;
}

function page(res: Response, status: number, title: string, html: string): void {
  res
    .status(status)
    .set('Cache-Control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · Custodian console</title></head>` +
        `<body><main><h1>${escapeHtml(title)}</h1><p>${html}</p></main></body></html>`,
    );
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

