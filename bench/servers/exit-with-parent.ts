/**
 * Preloaded into the Custodian child (`node --import tsx --import <this> server/src/main.ts`).
 * The bench keeps the child's stdin open as a pipe; if it closes because the bench died without
 * cleaning up (e.g. kill -9), this asks the server to shut down the way it normally does.
 * Nothing else about the server changes.
 */
process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM'));
process.stdin.on('error', () => process.kill(process.pid, 'SIGTERM'));
process.stdin.resume();
// Reading stdin must not be what keeps the process alive.
(process.stdin as unknown as { unref?: () => void }).unref?.();
