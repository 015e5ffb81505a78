/**
 * `npm run -s token -- --as ROLE [--scope S] [--purpose CODE] [--patient ID] [--json]`
 * `npm run -s token -- --register FILE.json`
 * `npm run -s token -- --list-clients`
 *
 * Gets an access token for a demo actor from the running server, through the same HTTP flows
 * a real client uses (reads PORT/BASE_URL/DATA_DIR like the server does):
 * - admin, insurer, employer, research: SMART Backend Services — a client assertion signed
 *   with the actor's key from DATA_DIR/actors, exchanged at the token endpoint.
 * - clinician, patient: a SMART standalone launch driven without a browser — the demo user
 *   signs in with the password kept in DATA_DIR/actors/demo-passwords.json, approves, and the
 *   code is exchanged with PKCE (the CLI plays the app, reading the code from the redirect).
 * Diagnostics go to stderr; the token is alone on the last line of stdout.
 *
 * `--register` validates a client registration (see README "Registering a client") and adds or
 * replaces it in DATA_DIR/clients.json; a running server picks it up on the next request.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEMO_ROLES, demoActor, type DemoRole } from '../../../fixtures/actors/actors.js';
import { discoverSmartConfiguration, requestBackendToken } from '../../../fixtures/actors/backend-client.js';
import { actorKeyFile, demoPasswordsFile, loadActorKey, readDemoPasswords } from '../../../fixtures/actors/ensure-demo-actors.js';
import { scriptedStandaloneLaunch } from '../../../fixtures/actors/scripted-launch.js';
import { ClientRegistry } from '../auth-server/client-registry.js';
import { parseClientRegistration } from '../auth-server/client-registration.js';
import { readIfExists } from '../files/durable-files.js';
import { loadConfig, type Config } from '../config/config.js';
import { UsageError, asUsageError, isMainModule, runCli } from './cli-args.js';

const USAGE = `Usage:
  npm run -s token -- --as ROLE [--scope "S1 S2"] [--purpose CODE] [--patient ID] [--json]
      ROLE: ${DEMO_ROLES.join(', ')}. Prints the access token alone on the last line.
  npm run -s token -- --register FILE.json    add or replace a client registration
  npm run -s token -- --list-clients          list registered clients
`;

export async function tokenMain(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        as: { type: 'string' },
        scope: { type: 'string' },
        purpose: { type: 'string' },
        patient: { type: 'string' },
        json: { type: 'boolean', default: false },
        register: { type: 'string' },
        'list-clients': { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw asUsageError(err);
  }
  const config = loadConfig(env);
  if (values.register !== undefined) return register(config, values.register);
  if (values['list-clients']) return listClients(config);
  if (values.as === undefined) throw new UsageError('--as ROLE, --register FILE or --list-clients is required');
  if (!(DEMO_ROLES as readonly string[]).includes(values.as)) throw new UsageError(`--as must be one of ${DEMO_ROLES.join(', ')}`);
  if (config.auth.mode !== 'builtin') {
    process.stderr.write(`This server trusts the external identity provider ${config.auth.issuer}; get tokens from it.\n`);
    return 1;
  }
  const body = await tokenFor(config, values.as as DemoRole, {
    ...(values.scope !== undefined ? { scope: values.scope } : {}),
    ...(values.purpose !== undefined ? { purpose: values.purpose } : {}),
    ...(values.patient !== undefined ? { patient: values.patient } : {}),
  });
  const describe = ['scope', 'purpose_of_use', 'patient', 'fhirUser', 'expires_in'].flatMap((k) => (body[k] !== undefined ? [`${k}=${JSON.stringify(body[k])}`] : []));
  process.stderr.write(`token for ${values.as}: ${describe.join(' ')}\n`);
  if (values.json) process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  process.stdout.write(`${String(body.access_token)}\n`);
  return 0;
}

async function tokenFor(config: Config, role: DemoRole, opts: { scope?: string; purpose?: string; patient?: string }): Promise<Record<string, unknown>> {
  const actor = demoActor(role);
  const discovery = await reach(config.baseUrl, () => discoverSmartConfiguration(config.baseUrl));
  if (actor.kind === 'backend') {
    const clientId = actor.registration.client_id;
    if (readIfExists(actorKeyFile(config.dataDir, clientId)) === undefined) {
      throw new Error(`no key for ${clientId} in ${config.dataDir}/actors; start the server once with this DATA_DIR so the demo actors are created`);
    }
    const answer = await requestBackendToken({
      tokenEndpoint: discovery.token_endpoint,
      clientId,
      key: await loadActorKey(config.dataDir, clientId),
      scope: opts.scope ?? actor.registration.scopes.join(' '),
      ...(opts.purpose !== undefined ? { purposeOfUse: opts.purpose } : {}),
    });
    if (answer.status !== 200) throw new Error(`token endpoint answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    return answer.body;
  }
  const password = readDemoPasswords(config.dataDir)[actor.user.username];
  if (password === undefined) throw new Error(`no password for ${actor.user.username} in ${demoPasswordsFile(config.dataDir)}; start the server once with this DATA_DIR`);
  const result = await scriptedStandaloneLaunch({
    fhirBaseUrl: config.baseUrl,
    clientId: actor.registration.client_id,
    redirectUri: actor.registration.redirect_uris[0]!,
    scope: opts.scope ?? actor.defaultScope,
    username: actor.user.username,
    password,
    ...(opts.purpose !== undefined ? { purposeOfUse: opts.purpose } : {}),
    ...(opts.patient !== undefined ? { choosePatient: () => opts.patient } : {}),
  });
  if (result.tokenStatus !== 200) throw new Error(`token endpoint answered ${result.tokenStatus}: ${JSON.stringify(result.token)}`);
  return result.token;
}

async function reach<T>(baseUrl: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    if (cause?.code === 'ECONNREFUSED') throw new Error(`no server at ${baseUrl}; start it (npm start) with the same PORT/BASE_URL/DATA_DIR`);
    throw err;
  }
}

function register(config: Config, file: string): number {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`);
  }
  const registration = parseClientRegistration(json);
  ClientRegistry.open(config.dataDir).upsert(registration);
  process.stderr.write(`registered ${registration.client_id} (${registration.kind}) in ${config.dataDir}/clients.json\n`);
  return 0;
}

function listClients(config: Config): number {
  for (const c of ClientRegistry.open(config.dataDir).list()) {
    process.stdout.write(`${c.client_id}\t${c.kind}\t${c.purposes_of_use.join(',')}\t${c.scopes.join(' ')}\n`);
  }
  return 0;
}

if (isMainModule(import.meta.url)) runCli('token', USAGE, (argv) => tokenMain(argv));
