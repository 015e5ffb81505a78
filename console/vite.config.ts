import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The console is served by the FHIR server at /console/ (server/src/http/console-static.ts), so
 * every URL in the build is under that base. Output goes to console/dist, which the server
 * serves and git ignores; hashed file names under assets/ are what lets the server cache them
 * for good.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  publicDir: false,
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // One small bundle: no inline scripts, nothing the Content-Security-Policy would block.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
});
