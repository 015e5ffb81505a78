import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { ROLES, type Role } from './client-registration.js';
import { readIfExists, replaceFile } from '../files/durable-files.js';

/**
 * People who can sign in at the authorization server's login page, kept in
 * `<dataDir>/users.json` (mode 0600) with scrypt password hashes (RFC 7914). A user is either
 * linked to a FHIR resource directly (`fhirUser`, e.g. a Practitioner) or, for a patient
 * whose server-assigned id is not known in advance, through an identifier resolved at sign-in.
 */
export interface UserRecord {
  readonly username: string;
  readonly displayName: string;
  readonly roles: readonly Role[];
  readonly fhirUser?: string;
  /** `system|value` of the Patient this user is, looked up when they sign in. */
  readonly patientIdentifier?: string;
  readonly password: PasswordHash;
}

interface PasswordHash {
  readonly scheme: 'scrypt';
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: string;
  readonly hash: string;
}

const SCRYPT = { N: 1 << 15, r: 8, p: 1 } as const;
const KEY_BYTES = 32;

const UserSchema = z.strictObject({
  username: z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/),
  displayName: z.string().min(1).max(200),
  roles: z.array(z.enum(ROLES)),
  fhirUser: z.string().regex(/^(Practitioner|PractitionerRole|Patient|RelatedPerson|Person)\/[A-Za-z0-9.-]{1,64}$/).optional(),
  patientIdentifier: z.string().regex(/^[^|\s]+\|[^|\s]+$/).optional(),
  password: z.strictObject({
    scheme: z.literal('scrypt'),
    N: z.number().int().min(1024),
    r: z.number().int().min(1),
    p: z.number().int().min(1),
    salt: z.string().min(16),
    hash: z.string().min(16),
  }),
});
const UsersFileSchema = z.strictObject({ users: z.array(UserSchema) });

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCallback(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

function scryptOptions(h: { N: number; r: number; p: number }): ScryptOptions {
  // Node's default maxmem (32 MiB) is just below what N=2^15, r=8 needs (128·N·r bytes).
  return { N: h.N, r: h.r, p: h.p, maxmem: 256 * h.N * h.r };
}

export async function hashPassword(password: string): Promise<PasswordHash> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEY_BYTES, scryptOptions(SCRYPT));
  return { scheme: 'scrypt', ...SCRYPT, salt: salt.toString('base64url'), hash: key.toString('base64url') };
}

async function passwordMatches(password: string, h: PasswordHash): Promise<boolean> {
  const expected = Buffer.from(h.hash, 'base64url');
  const key = await scrypt(password, Buffer.from(h.salt, 'base64url'), expected.length, scryptOptions(h));
  return timingSafeEqual(key, expected);
}

export class UserDirectory {
  /** Checked against when the user is unknown; made on first use so start-up stays fast. */
  private decoy: Promise<PasswordHash> | undefined;

  private constructor(
    readonly file: string,
    private users: Map<string, UserRecord>,
  ) {}

  static async open(dataDir: string): Promise<UserDirectory> {
    const file = join(dataDir, 'users.json');
    return new UserDirectory(file, readUsers(file));
  }

  /** The user when the password is theirs. Unknown users cost the same scrypt, so timing tells nothing. */
  async verify(username: string, password: string): Promise<UserRecord | undefined> {
    try {
      this.users = readUsers(this.file);
    } catch {
      // An edit in progress (or a broken one) must not lock everyone out: keep the last good list.
    }
    const user = this.users.get(username);
    this.decoy ??= hashPassword(randomBytes(16).toString('hex'));
    const ok = await passwordMatches(password, user?.password ?? (await this.decoy));
    return ok && user ? user : undefined;
  }

  get(username: string): UserRecord | undefined {
    return this.users.get(username);
  }

  list(): UserRecord[] {
    return [...this.users.values()];
  }

  /** Adds or replaces a user, hashing `password`, and writes the file atomically. */
  async upsert(user: Omit<UserRecord, 'password'>, password: string): Promise<void> {
    const record = UserSchema.parse({ ...user, password: await hashPassword(password) }) as UserRecord;
    const users = readUsers(this.file);
    users.set(record.username, record);
    replaceFile(this.file, `${JSON.stringify({ users: [...users.values()] }, null, 2)}\n`);
    this.users = users;
  }
}

function readUsers(file: string): Map<string, UserRecord> {
  const text = readIfExists(file);
  if (text === undefined) return new Map();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = UsersFileSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${file} is not a valid user list: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return new Map(parsed.data.users.map((u) => [u.username, u as UserRecord]));
}
