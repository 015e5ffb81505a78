import { z } from 'zod';
import { ROLES } from '../auth/principal.js';
import { DEFAULT_BASE_POLICY, parseBasePolicy } from '../consent/base-policy.js';
import { FabricConfigError, fabricConfigFromEnv, type FabricConfig } from '../../../ledger-adapter/fabric/fabric-config.js';

/**
 * Configuration schema. Only entry points (server main, CLIs) call loadConfig(process.env);
 * everything else receives the frozen Config object.
 */
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const ConfigSchema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    HOST: z.string().min(1).default('127.0.0.1'),
    BASE_URL: z.url().optional(),
    DATA_DIR: z.string().min(1).default('./data'),
    MONGODB_URI: z
      .string()
      .regex(/^mongodb(\+srv)?:\/\//, 'must start with mongodb:// or mongodb+srv://')
      .optional(),
    MONGODB_DB: z.string().regex(/^[A-Za-z0-9_-]{1,63}$/).default('custodian'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(32 * 1024 * 1024),
    DEFAULT_PAGE_SIZE: z.coerce.number().int().min(1).default(20),
    MAX_PAGE_SIZE: z.coerce.number().int().min(1).default(1000),
    CURSOR_SECRET: z.string().min(32, 'must be at least 32 characters (it keys the HMAC that makes paging cursors tamper-proof)').optional(),
    MAX_INCLUDES: z.coerce.number().int().min(0).max(100000).default(1000),
    UPDATE_CREATE: bool.default(true),
    SEED_ON_FIRST_START: bool.default(true),
    SEED_PATIENTS: z.coerce.number().int().min(0).max(100000).default(25),
    SEED: z.coerce.number().int().default(42),
    AUTH_ISSUER: z.url().optional(),
    AUTH_JWKS_URL: z.url().optional(),
    AUTH_AUDIENCE: z.url().optional(),
    AUTH_CLOCK_SKEW_SECONDS: z.coerce.number().int().min(0).max(600).default(30),
    ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86400).default(900),
    REFRESH_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(90 * 86400).default(30 * 86400),
    TOKEN_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).max(100000).default(60),
    CONSENT_BASE_POLICY: z
      .string()
      .default(DEFAULT_BASE_POLICY)
      .superRefine((v, ctx) => {
        try {
          parseBasePolicy(v);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      }),
    CONSENT_BREAK_GLASS_ROLES: z
      .string()
      .default('clinician')
      .refine((v) => v.split(',').map((r) => r.trim()).filter((r) => r !== '').every((r) => (ROLES as readonly string[]).includes(r)), {
        message: `must be a comma-separated list of roles (${ROLES.join(', ')}), or 'none'`,
      })
      .or(z.literal('none')),
    LEDGER_ORIGIN: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9.\-/_:]{0,200}$/, 'must be a checkpoint origin: letters, digits and . - / _ :, no spaces')
      .optional(),
    CHECKPOINT_INTERVAL_MS: z.coerce.number().int().min(100).max(3_600_000).default(1000),
    ANCHOR_MIN_INTERVAL_MS: z.coerce.number().int().min(0).max(86_400_000).default(0),
    EXPORT_RETENTION_SECONDS: z.coerce.number().int().min(1).max(30 * 86400).default(3600),
    EXPORT_MAX_JOBS_PER_CLIENT: z.coerce.number().int().min(1).max(100).default(2),
    EXPORT_DEIDENTIFY_CLIENTS: z
      .string()
      .regex(/^[^,\s]+(\s*,\s*[^,\s]+)*$/, 'must be a comma-separated list of client ids')
      .optional(),
    EXPORT_PATIENT_BATCH: z.coerce.number().int().min(1).max(5000).default(500),
  })
  .refine((c) => (c.AUTH_ISSUER === undefined) === (c.AUTH_JWKS_URL === undefined), {
    message: 'AUTH_ISSUER and AUTH_JWKS_URL go together: set both to use an external identity provider, neither for the built-in authorization server',
    path: ['AUTH_JWKS_URL'],
  })
  .refine((c) => c.DEFAULT_PAGE_SIZE <= c.MAX_PAGE_SIZE, {
    message: 'DEFAULT_PAGE_SIZE must not exceed MAX_PAGE_SIZE',
    path: ['DEFAULT_PAGE_SIZE'],
  });

export interface Config {
  readonly port: number;
  readonly host: string;
  /** Absolute FHIR base URL without trailing slash. */
  readonly baseUrl: string;
  readonly dataDir: string;
  readonly storage: Readonly<{ engine: 'embedded' } | { engine: 'mongodb'; uri: string; dbName: string }>;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly maxBodyBytes: number;
  readonly defaultPageSize: number;
  readonly maxPageSize: number;
  /**
   * Secret keying the HMAC of paging cursors. When absent, a random key is kept in
   * `DATA_DIR/keys/cursor.key`; set it when server processes do not share a DATA_DIR.
   */
  readonly cursorSecret?: string;
  /** Most resources `_include`/`_revinclude` may add to one page. */
  readonly maxIncludes: number;
  /** FHIR update-as-create: PUT to an unknown id creates it. */
  readonly updateCreate: boolean;
  readonly seedOnFirstStart: boolean;
  readonly seedPatients: number;
  readonly seed: number;
  readonly auth: AuthConfig;
  readonly consent: ConsentConfig;
  readonly ledger: LedgerConfig;
  readonly export: ExportConfig;
}

/** Bulk Data `$export` jobs (README "Bulk Data export"). */
export interface ExportConfig {
  /** EXPORT_RETENTION_SECONDS: how long a finished job's files (and its status) stay available. */
  readonly retentionSeconds: number;
  /** EXPORT_MAX_JOBS_PER_CLIENT: queued or running jobs one client may have; beyond it, 429. */
  readonly maxJobsPerClient: number;
  /** EXPORT_DEIDENTIFY_CLIENTS: clients whose exports are always de-identified. */
  readonly deidentifyClients: readonly string[];
  /** EXPORT_PATIENT_BATCH: patients whose data one set of queries reads (Patient and Group exports). */
  readonly patientBatch: number;
}

/** The Merkle log and its anchoring (README "Audit trail and ledger"). */
export interface LedgerConfig {
  /** LEDGER_ORIGIN: the checkpoint origin of a new log; default `<BASE_URL hostname and path>/log`. An existing log keeps its own. */
  readonly origin: string;
  /** Whether LEDGER_ORIGIN was given (then it must match an existing log's). */
  readonly originSet: boolean;
  /** CHECKPOINT_INTERVAL_MS: how often a checkpoint is signed when the log grew. */
  readonly checkpointIntervalMs: number;
  /** ANCHOR_MIN_INTERVAL_MS: least time between two anchors (0: anchor every checkpoint). */
  readonly anchorMinIntervalMs: number;
  /** FABRIC_*: anchor on Hyperledger Fabric instead of the embedded chain (FABRIC_PEER_ENDPOINT selects it). */
  readonly fabric?: FabricConfig;
}

/** Consent enforcement (README "Consent rules"). */
export interface ConsentConfig {
  /** CONSENT_BASE_POLICY: what applies when no Consent decides (base-policy.ts). */
  readonly basePolicy: string;
  /** CONSENT_BREAK_GLASS_ROLES: roles that may break the glass with purpose ETREAT. */
  readonly breakGlassRoles: readonly string[];
}

/**
 * Who issues access tokens. 'builtin': this server's own authorization server (SMART Backend
 * Services and App Launch) at `<origin>/auth`, keys in DATA_DIR/keys. 'external': an identity
 * provider given by issuer + JWKS URL; the built-in one is then not mounted.
 */
export interface AuthConfig {
  readonly mode: 'builtin' | 'external';
  /** Expected `iss` of access tokens. */
  readonly issuer: string;
  /** Only for 'external': where the issuer's signing keys are published. */
  readonly jwksUrl?: string;
  /** Expected `aud` of access tokens: the FHIR base URL unless configured. */
  readonly audience: string;
  readonly clockSkewSeconds: number;
  readonly accessTokenTtlSeconds: number;
  readonly refreshTokenTtlSeconds: number;
  /** Token endpoint requests per minute per client address. */
  readonly tokenRateLimitPerMinute: number;
}

export class ConfigError extends Error {}

/** Validates the environment against the schema, applies defaults and freezes the result. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // Empty strings mean "unset", as in most shells' `FOO= cmd`.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ConfigSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  let fabric: FabricConfig | undefined;
  try {
    fabric = fabricConfigFromEnv(cleaned);
  } catch (err) {
    if (err instanceof FabricConfigError) throw new ConfigError(`Invalid configuration:\n  ${err.message.replace(/\n/g, '\n  ')}`);
    throw err;
  }
  const hostForUrl = e.HOST === '0.0.0.0' || e.HOST === '::' || e.HOST === '127.0.0.1' ? 'localhost' : e.HOST;
  const baseUrl = (e.BASE_URL ?? `http://${hostForUrl}:${e.PORT}/fhir`).replace(/\/+$/, '');
  return Object.freeze({
    port: e.PORT,
    host: e.HOST,
    baseUrl,
    dataDir: e.DATA_DIR,
    storage: Object.freeze(
      e.MONGODB_URI
        ? { engine: 'mongodb' as const, uri: e.MONGODB_URI, dbName: e.MONGODB_DB }
        : { engine: 'embedded' as const },
    ),
    logLevel: e.LOG_LEVEL,
    maxBodyBytes: e.MAX_BODY_BYTES,
    defaultPageSize: e.DEFAULT_PAGE_SIZE,
    maxPageSize: e.MAX_PAGE_SIZE,
    ...(e.CURSOR_SECRET !== undefined ? { cursorSecret: e.CURSOR_SECRET } : {}),
    maxIncludes: e.MAX_INCLUDES,
    updateCreate: e.UPDATE_CREATE,
    seedOnFirstStart: e.SEED_ON_FIRST_START,
    seedPatients: e.SEED_PATIENTS,
    seed: e.SEED,
    auth: Object.freeze({
      mode: e.AUTH_ISSUER ? ('external' as const) : ('builtin' as const),
      issuer: (e.AUTH_ISSUER ?? `${new URL(baseUrl).origin}/auth`).replace(/\/+$/, ''),
      ...(e.AUTH_JWKS_URL ? { jwksUrl: e.AUTH_JWKS_URL } : {}),
      audience: (e.AUTH_AUDIENCE ?? baseUrl).replace(/\/+$/, ''),
      clockSkewSeconds: e.AUTH_CLOCK_SKEW_SECONDS,
      accessTokenTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
      tokenRateLimitPerMinute: e.TOKEN_RATE_LIMIT_PER_MINUTE,
    }),
    ledger: Object.freeze({
      origin: e.LEDGER_ORIGIN ?? `${new URL(baseUrl).hostname}${new URL(baseUrl).pathname.replace(/\/fhir$/, '')}/log`.replace(/\/+/g, '/'),
      originSet: e.LEDGER_ORIGIN !== undefined,
      checkpointIntervalMs: e.CHECKPOINT_INTERVAL_MS,
      anchorMinIntervalMs: e.ANCHOR_MIN_INTERVAL_MS,
      ...(fabric ? { fabric } : {}),
    }),
    export: Object.freeze({
      retentionSeconds: e.EXPORT_RETENTION_SECONDS,
      maxJobsPerClient: e.EXPORT_MAX_JOBS_PER_CLIENT,
      deidentifyClients: Object.freeze((e.EXPORT_DEIDENTIFY_CLIENTS ?? '').split(',').map((c) => c.trim()).filter((c) => c !== '')),
      patientBatch: e.EXPORT_PATIENT_BATCH,
    }),
    consent: Object.freeze({
      basePolicy: e.CONSENT_BASE_POLICY,
      breakGlassRoles: Object.freeze(e.CONSENT_BREAK_GLASS_ROLES === 'none' ? [] : e.CONSENT_BREAK_GLASS_ROLES.split(',').map((r) => r.trim()).filter((r) => r !== '')),
    }),
  });
}

