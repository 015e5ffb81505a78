/**
 * The limit: raw node:http with no FHIR logic at all. GET /fhir/Patient/<anything> answers the
 * same pre-serialised bytes (a real Custodian read response, captured by the bench), and
 * POST /fhir/Patient drains the body and answers a fixed 201 (a real Custodian create
 * response). Whatever a FHIR server does on top of this is what it costs.
 *
 * Env: BENCH_LIMIT_FIXTURE = path of a JSON file { read: Captured, create: Captured }.
 * Run as its own process; listens on PORT (default 0) and prints "listening on <base>".
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { exitWhenParentGoes } from './child-lifecycle.js';

export interface CapturedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const fixturePath = process.env.BENCH_LIMIT_FIXTURE;
if (!fixturePath) throw new Error('BENCH_LIMIT_FIXTURE is not set');
const fixture = JSON.parse(readFileSync(fixturePath, 'utf8')) as { read: CapturedResponse; create: CapturedResponse };

function prepare(c: CapturedResponse): { status: number; headers: Record<string, string | number>; body: Buffer } {
  const body = Buffer.from(c.body, 'utf8');
  return { status: c.status, headers: { ...c.headers, 'Content-Length': body.length }, body };
}
const READ = prepare(fixture.read);
const CREATE = prepare(fixture.create);
const NOT_FOUND = Buffer.from('{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}');

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  if (req.method === 'GET' && url.startsWith('/fhir/Patient/')) {
    res.writeHead(READ.status, READ.headers);
    res.end(READ.body);
  } else if (req.method === 'POST' && (url === '/fhir/Patient' || url === '/fhir/Patient/')) {
    req.resume();
    req.on('end', () => {
      res.writeHead(CREATE.status, CREATE.headers);
      res.end(CREATE.body);
    });
  } else {
    req.resume();
    res.writeHead(404, { 'Content-Type': 'application/fhir+json', 'Content-Length': NOT_FOUND.length });
    res.end(NOT_FOUND);
  }
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  process.stdout.write(`raw limit listening on http://127.0.0.1:${port}/fhir\n`);
});
exitWhenParentGoes(server);
