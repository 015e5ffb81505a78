import { statSync } from 'node:fs';
import { join } from 'node:path';
import { formatIssues, parseClientRegistration, RegistryFileSchema, type ClientRegistration } from './client-registration.js';
import { readIfExists, replaceFile } from '../files/durable-files.js';

/**
 * The durable client registry: `<dataDir>/clients.json`, `{ "clients": [ClientRegistration…] }`.
 * An operator registers a client by editing the file or with `npm run token -- --register
 * FILE`; a running server notices the change (file identity and mtime are checked on each
 * lookup) and uses it from the next request. A file edited into an invalid state is refused
 * and the last valid registry stays in force.
 */
export class ClientRegistry {
  private clients = new Map<string, ClientRegistration>();
  private stamp = '';

  private constructor(
    readonly file: string,
    private readonly onReloadError: (err: Error) => void,
  ) {}

  /** Opens (or starts) the registry; an invalid file stops start-up with the reasons. */
  static open(dataDir: string, onReloadError: (err: Error) => void = () => undefined): ClientRegistry {
    const registry = new ClientRegistry(join(dataDir, 'clients.json'), onReloadError);
    registry.reload(true);
    return registry;
  }

  get(clientId: string): ClientRegistration | undefined {
    this.reload(false);
    return this.clients.get(clientId);
  }

  list(): ClientRegistration[] {
    this.reload(false);
    return [...this.clients.values()];
  }

  /** Adds or replaces a registration (by client_id) and writes the file atomically. */
  upsert(registration: ClientRegistration): void {
    const valid = parseClientRegistration(registration);
    this.reload(true);
    const next = [...this.clients.values()].filter((c) => c.client_id !== valid.client_id);
    next.push(valid);
    replaceFile(this.file, `${JSON.stringify({ clients: next }, null, 2)}\n`);
    this.reload(true);
  }

  private reload(strict: boolean): void {
    const stamp = fileStamp(this.file);
    if (stamp === this.stamp) return;
    try {
      const text = readIfExists(this.file);
      const clients = text === undefined ? [] : parseRegistry(this.file, text);
      this.clients = new Map(clients.map((c) => [c.client_id, c]));
      this.stamp = stamp;
    } catch (err) {
      if (strict) throw err;
      // Keep serving with the last valid registry; remember the stamp so the error is
      // reported once per edit, not once per request.
      this.stamp = stamp;
      this.onReloadError(err as Error);
    }
  }
}

function parseRegistry(file: string, text: string): ClientRegistration[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = RegistryFileSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${file} is not a valid client registry:\n${formatIssues(parsed.error.issues)}`);
  return parsed.data.clients as ClientRegistration[];
}

function fileStamp(file: string): string {
  try {
    const s = statSync(file, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
}
