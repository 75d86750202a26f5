import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const SCRIPT = join(process.cwd(), 'build', 'test', 'fixtures', 'child-app.js');

/** A forked child app and the IPC messages it has sent so far. */
export type Child = ChildProcess & { messages: any[] };

/** Children forked and still running; {@link reapChildren} SIGKILLs them. */
const running = new Set<Child>();

/** Forks the compiled child app (see test/fixtures/child-app.ts) with its config. */
export function forkChild(config: Record<string, unknown>): Child {
  if (!existsSync(SCRIPT))
    throw new Error(`${SCRIPT} is missing: run "npm run build:all" (npm test does it in pretest).`);
  const child = fork(SCRIPT, [], {
    env: { ...process.env, CHILD_CONFIG: JSON.stringify(config) },
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  }) as Child;
  child.messages = [];
  child.on('message', (m) => child.messages.push(m));
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Resolves when the child exits, with its exit code and signal. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Resolves with the first message matching `pick`; rejects when the child exits first or after `timeoutMs`. */
export async function message<T>(child: Child, pick: (m: any) => boolean, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const m = child.messages.find(pick);
    if (m) return m;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `child ${child.pid} exited (code ${child.exitCode}, signal ${child.signalCode}) without sending such a message`,
      );
    }
    if (Date.now() > until) throw new Error('child sent no such message');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Forks a child and waits for its `{ ready }` message. */
export async function startChild(config: Record<string, unknown>, timeoutMs = 30_000): Promise<Child> {
  const child = forkChild(config);
  try {
    await message(child, (m) => m.ready, timeoutMs);
  } catch (err) {
    await kill(child);
    throw err;
  }
  return child;
}

/**
 * Sends `signal` and resolves with how the child ended and how long it took; a child still
 * running after `timeoutMs` is SIGKILLed and reported as `timedOut`.
 */
export async function stop(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  timeoutMs = 20_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number; timedOut: boolean }> {
  const started = Date.now();
  const end = exited(child);
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
  const first = await Promise.race([end, late]);
  clearTimeout(timer);
  if (first !== 'late') return { ...first, ms: Date.now() - started, timedOut: false };
  const ms = Date.now() - started;
  child.kill('SIGKILL');
  return { ...(await end), ms, timedOut: true };
}

/** SIGKILLs a child and waits for it to be gone. */
export async function kill(child: ChildProcess): Promise<void> {
  await stop(child, 'SIGKILL');
}

/** SIGKILLs every forked child still running (for afterEach / finally blocks). */
export async function reapChildren(): Promise<void> {
  await Promise.all([...running].map((c) => kill(c)));
}

/** What {@link startWorker} needs: the shared database and Bull prefix, and the worker's name. */
export interface WorkerChildOptions {
  db: { options: unknown };
  prefix: string;
  redisUrl: string;
  /** Sent as the User-Agent of its requests, so a receiver can tell the workers apart. */
  name: string;
  outbound: Record<string, unknown>;
  bullSettings?: Record<string, unknown>;
  /** A shutdown delay elsewhere in the app (see the child's GracefulShutdown). */
  gracefulShutdownMs?: number;
}

/** Starts a child process in the 'worker' role (action 'worker') and waits until it is ready. */
export function startWorker(o: WorkerChildOptions): Promise<Child> {
  return startChild({
    action: 'worker',
    db: o.db.options,
    redisUrl: o.redisUrl,
    prefix: o.prefix,
    bullSettings: o.bullSettings,
    gracefulShutdownMs: o.gracefulShutdownMs,
    webhooks: { role: 'worker', outbound: { ...o.outbound, userAgent: o.name } },
  });
}
