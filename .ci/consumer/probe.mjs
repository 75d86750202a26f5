// Talks to a running app as its partner would: waits for it to listen, then a signed call must be
// answered 200 and a tampered one 401. Usage: node probe.mjs <port> <secret> (from the app's folder,
// so `nestjs-webhooks/testing` is the installed tarball).
import { signWebhook } from 'nestjs-webhooks/testing';

const [port, secret] = process.argv.slice(2);
const url = `http://127.0.0.1:${port}/webhooks/partner`;
const post = (body, headers) => fetch(url, { method: 'POST', body, headers }).then((r) => r.status);
let up = false;
for (let i = 0; i < 150 && !up; i++) {
  up = await post('{}', { 'content-type': 'application/json' }).then(
    () => true,
    () => new Promise((r) => setTimeout(() => r(false), 200)),
  );
}
if (!up) throw new Error(`nothing listens on ${url} after 30 s`);
const signed = signWebhook({
  scheme: 'standard',
  secret,
  payload: { type: 'payment.completed', data: { id: 'pay_1' } },
});
const good = await post(signed.body, signed.headers);
const bad = await post(signed.body.replace('pay_1', 'pay_2'), signed.headers);
if (good !== 200 || bad !== 401) throw new Error(`signed call answered ${good} (want 200), tampered ${bad} (want 401)`);
console.log(`probe: the running app answered a signed call 200 and a tampered one 401`);
