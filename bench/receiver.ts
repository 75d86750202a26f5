import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { wallMs } from './support.js';

/**
 * The benchmarks' webhook receiver, run as a child process of its own so that it never shares
 * an event loop with the worker it measures: a node:http server on 127.0.0.1 that reads each
 * body, answers 200 and counts. IPC: `{cmd:'expect', n}` is answered with `{type:'reached',
 * count, at}` once `n` requests have arrived since the last `{cmd:'reset'}`.
 */
let count = 0;
let firstAt = 0;
let lastAt = 0;
let waiting: { n: number } | null = null;

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    lastAt = wallMs();
    if (count++ === 0) firstAt = lastAt;
    if (waiting && count >= waiting.n) {
      waiting = null;
      process.send!({ type: 'reached', count, at: lastAt, firstAt });
    }
  });
});
server.keepAliveTimeout = 30_000;

process.on('message', (m: { cmd: string; n?: number }) => {
  if (m.cmd === 'reset') {
    count = 0;
    waiting = null;
    process.send!({ type: 'reset' });
  } else if (m.cmd === 'count') {
    process.send!({ type: 'count', count });
  } else if (m.cmd === 'expect') {
    // Normally sent before the traffic starts; if not, the last arrival is the best answer.
    if (count >= m.n!) process.send!({ type: 'reached', count, at: lastAt, firstAt });
    else waiting = { n: m.n! };
  }
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
server.listen(0, '127.0.0.1', () => process.send!({ type: 'ready', port: (server.address() as AddressInfo).port }));
