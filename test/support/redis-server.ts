import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** The lowest port the OS hands out to outgoing connections (Linux's default: 32768). */
function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32_768;
  } catch {
    return 32_768;
  }
}

/**
 * A free TCP port on 127.0.0.1 for a server that a test stops and starts again on the same port.
 * It is taken below the ephemeral range: a port from that range (what `listen(0)` gives) can be
 * handed to an outgoing connection while the server is down, and a client reconnecting to it can
 * even connect to itself, so the server could not listen there again.
 */
export async function freePort(): Promise<number> {
  const high = ephemeralLow();
  const low = Math.max(1024, high - 12_000);
  for (let tries = 0; ; tries++) {
    const port = low + Math.floor(Math.random() * (high - low));
    const srv = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (bound) {
      await new Promise<void>((r) => srv.close(() => r()));
      return port;
    }
    if (tries >= 50) throw new Error(`no free port found in ${low}-${high - 1}`);
  }
}

/**
 * A redis-server of the test's own on a port of its own, without persistence, so a test can
 * stop and restart it (losing everything, as a Redis without persistence does).
 */
export class PrivateRedis {
  private proc: ChildProcess | null = null;
  private constructor(
    readonly port: number,
    private readonly extraArgs: string[],
  ) {}

  /** Starts one on a free port; `extraArgs` go to redis-server (e.g. a maxmemory-policy). */
  static async start(extraArgs: string[] = []): Promise<PrivateRedis> {
    const r = new PrivateRedis(await freePort(), extraArgs);
    await r.start();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction', ...this.extraArgs], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.proc = proc;
    // What it printed, to say why if it exits before answering (a port taken meanwhile, say).
    let output = '';
    proc.stdout!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-2000)));
    const until = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`redis-server on port ${this.port} exited (${proc.exitCode ?? proc.signalCode}) before answering: ${output.trim().split('\n').pop()}`);
      }
      const c = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        await c.connect();
        await c.ping();
        c.disconnect();
        return;
      } catch {
        c.disconnect();
        if (Date.now() > until) throw new Error(`redis-server on port ${this.port} did not start`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** Kills the server: every key is gone, clients see the connection drop. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }
}
