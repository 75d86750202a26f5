import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const SCRIPT = join(process.cwd(), 'build', 'test', 'fixtures', 'child-app.js');

/** Forks the compiled child app (see test/fixtures/child-app.ts) with its config. */
export function forkChild(config: Record<string, unknown>): ChildProcess & { messages: any[] } {
  if (!existsSync(SCRIPT)) throw new Error(`${SCRIPT} is missing: run "npm run build:all" (npm test does it in pretest).`);
  const child = fork(SCRIPT, [], {
    env: { ...process.env, CHILD_CONFIG: JSON.stringify(config) },
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  }) as ChildProcess & { messages: any[] };
  child.messages = [];
  child.on('message', (m) => child.messages.push(m));
  return child;
}

/** Resolves when the child exits, with its exit code and signal. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Resolves with the first message matching `pick`. */
export async function message<T>(child: ChildProcess & { messages: any[] }, pick: (m: any) => boolean, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const m = child.messages.find(pick);
    if (m) return m;
    if (Date.now() > until) throw new Error('child sent no such message');
    await new Promise((r) => setTimeout(r, 20));
  }
}
