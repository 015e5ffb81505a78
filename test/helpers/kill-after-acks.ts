import { spawn } from 'node:child_process';

/**
 * Runs a test file again as a child process (`--import tsx`, with `env` added), reads the
 * lines it prints, and SIGKILLs it once `acks()` — counted by `onLine` — reaches `atLeast`:
 * the crash tests' way of killing a writer right after it acknowledged durable writes.
 * Resolves when the child died of that SIGKILL; rejects if it exited otherwise or acknowledged
 * too few within 60 s.
 */
export function killAfterAcks(file: string, env: Record<string, string>, onLine: (line: string) => void, acks: () => number, atLeast: number): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', file], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let buffer = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child acknowledged only ${acks()} writes in 60 s: ${stderr}`));
    }, 60_000);
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) onLine(line);
      if (acks() >= atLeast && child.exitCode === null && !child.killed) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL' && acks() >= atLeast) resolve();
      else reject(new Error(`child exited with ${code ?? signal} after ${acks()} acks: ${stderr}`));
    });
  });
}
