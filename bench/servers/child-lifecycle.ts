import type { Server } from 'node:http';

/**
 * Bench server children are spawned with a stdin pipe from the bench process. When that pipe
 * closes (the bench ended, crashed or was killed) or a SIGTERM/SIGINT arrives, the child exits,
 * so no server outlives the run.
 */
export function exitWhenParentGoes(server: Server): void {
  let exiting = false;
  const exit = (): void => {
    if (exiting) return;
    exiting = true;
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', exit);
  process.on('SIGINT', exit);
  process.stdin.on('end', exit);
  process.stdin.on('error', exit);
  process.stdin.resume();
}
