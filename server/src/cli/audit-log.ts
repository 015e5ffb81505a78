/**
 * `npm run audit-log`
 *
 * The full audit (issue 6 §5): recomputes every leaf of the Merkle log from the store and
 * checks the whole log against the anchored checkpoints (server/src/ledger/full-audit.ts).
 * Opens the data directory read-only (open-for-audit.ts); never starts the HTTP server.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseVerifierKey } from '../../../ledger-adapter/src/checkpoint/note.js';
import { ConfigError, loadConfig } from '../config/config.js';
import type { AuditFinding, FullAuditOptions, FullAuditReport } from '../ledger/full-audit.js';
import { AuditSetupError, auditDataDir } from '../ledger/open-for-audit.js';
import { UsageError, asUsageError, isMainModule } from './cli-args.js';

const USAGE = `Usage: npm run audit-log [-- options]

Recomputes every leaf of the Merkle log from the stored versions and checks the whole log
against the anchored checkpoints. Reports versions modified, deleted or inserted behind the
log's back, leaves reordered, a truncated log, checkpoints that are not the anchored ones, and
an anchor chain that does not verify; leaves not anchored yet are listed for information.

Storage comes from the environment (DATA_DIR, MONGODB_URI, ...), as for the server. Nothing is
written. Run it with the server stopped (versions written meanwhile may show without their
leaf). After a crash, start the server once first: it appends the leaves of versions stored
just before the crash, which the audit would otherwise report as inserted.

Options:
  --json                    print the report as JSON
  --log-key <key|file>      the log's verifier key as published (default: derived from the
                            key in DATA_DIR/ledger/keys, which does not catch a replaced key)
  --anchor-key <key|file>   the anchor chain's public key as published, PEM or base64
                            (default: the key in DATA_DIR/ledger/anchor)
  --chain-signatures <every|last>
                            check every anchor entry's signature (default) or the last one's
  -h, --help                print this help

Exit status: 0 nothing found (unanchored leaves aside), 1 findings, 2 bad usage or configuration.
`;

function readKeyArg(name: string, arg: string): string {
  if (name === 'log-key' && parseVerifierKey(arg).ok) return arg;
  if (name === 'anchor-key' && (arg.includes('-----BEGIN') || /^[A-Za-z0-9+/]{43}=$/.test(arg))) return arg;
  if (!existsSync(arg)) throw new UsageError(`--${name} is neither a key nor a file: ${arg}`);
  const text = readFileSync(arg, 'utf8').trim();
  if (name === 'log-key') {
    const parsed = parseVerifierKey(text);
    if (!parsed.ok) throw new UsageError(`the key file ${arg} does not hold a verifier key: ${parsed.reason}`);
  }
  return text;
}

export function formatReport(report: FullAuditReport, dataDir: string): string {
  const lines: string[] = [];
  lines.push(`Full audit of ${dataDir}${report.origin ? ` (log ${report.origin})` : ''}`);
  lines.push(
    `  log: ${report.logSize} leaves checked; anchored: size ${report.anchoredSize} (${report.anchoredCheckpoints} anchored checkpoints checked); store: ${report.checkedVersions} versions recomputed`,
  );
  const counts = new Map<string, number>();
  for (const f of report.findings) counts.set(f.kind, (counts.get(f.kind) ?? 0) + 1);
  lines.push(`  findings: ${report.findings.length}${counts.size > 0 ? ` (${[...counts].map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`);
  for (const f of report.findings) lines.push(formatFinding(f));
  lines.push(report.ok ? 'OK: the store and the log agree, and the log agrees with its anchored checkpoints' : 'FAILED: see the findings above');
  return `${lines.join('\n')}\n`;
}

function formatFinding(f: AuditFinding): string {
  const where = [f.key, f.leafIndex !== undefined ? `leaf ${f.leafIndex}` : undefined, f.size !== undefined ? `size ${f.size}` : undefined].filter(Boolean).join(', ');
  return `${f.kind.toUpperCase().padEnd(20)} ${where ? `${where}: ` : ''}${f.detail}`;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        json: { type: 'boolean' },
        'log-key': { type: 'string' },
        'anchor-key': { type: 'string' },
        'chain-signatures': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw asUsageError(err);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const signatures = v['chain-signatures'] ?? 'every';
  if (signatures !== 'every' && signatures !== 'last') throw new UsageError(`--chain-signatures must be every or last, got "${signatures}"`);
  const opts: FullAuditOptions = {
    chainSignatures: signatures,
    ...(v['log-key'] !== undefined ? { verifierKey: readKeyArg('log-key', v['log-key']) } : {}),
    ...(v['anchor-key'] !== undefined ? { anchorPublicKey: readKeyArg('anchor-key', v['anchor-key']) } : {}),
  };
  const config = loadConfig(process.env);
  const report = await auditDataDir(config, opts);
  process.stdout.write(v.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report, config.dataDir));
  return report.ok ? 0 : 1;
}

if (isMainModule(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      if (err instanceof UsageError) {
        process.stderr.write(`${err.message}\n\n${USAGE}`);
        process.exitCode = 2;
      } else if (err instanceof ConfigError || err instanceof AuditSetupError) {
        process.stderr.write(`audit-log: ${err.message}\n`);
        process.exitCode = 2;
      } else {
        process.stderr.write(`audit-log failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        process.exitCode = 1;
      }
    },
  );
}
