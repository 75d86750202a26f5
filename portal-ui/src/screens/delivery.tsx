import type { Attempt } from '../api';
import { Action, Code, Headers, Problem, Status } from '../components';
import { usePortal } from '../context';
import { href, ms, useLoad, when } from '../util';

/** One delivery with every attempt: what was sent, what came back, how long it took. */
export function DeliveryDetail({ id }: { id: string }) {
  const { api, canManage } = usePortal();
  const loaded = useLoad(() => api.delivery(id), [api, id]);
  if (loaded.error) return <Problem error={loaded.error} />;
  if (!loaded.data) return <p class="loading">Loading…</p>;
  const { delivery: d, attempts } = loaded.data;
  return (
    <section aria-labelledby="delivery-title">
      <p>
        <a href={href.message(d.messageId)}>← Message</a>
      </p>
      <h1 id="delivery-title">Delivery</h1>
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <Status value={d.status} />
        </dd>
        <dt>Endpoint</dt>
        <dd>
          <a href={href.endpoint(d.endpointId)}>
            <code>{d.endpointId}</code>
          </a>
        </dd>
        <dt>Attempts</dt>
        <dd>{d.attempts ?? attempts.length}</dd>
        <dt>Next attempt</dt>
        <dd>{when(d.nextAttemptAt)}</dd>
        <dt>Last response</dt>
        <dd>{d.lastStatusCode ?? '—'}</dd>
      </dl>
      <div class="actions">
        <button type="button" onClick={loaded.reload}>
          Refresh
        </button>
        {canManage && (
          <Action
            kind="primary"
            run={() => api.replay(d.id)}
            done={() => {
              loaded.reload();
              return 'Delivery queued again.';
            }}
          >
            Replay delivery
          </Action>
        )}
      </div>
      <h2>Attempts</h2>
      {attempts.length === 0 && <p class="muted">No attempt yet.</p>}
      <ol class="attempts">
        {attempts.map((a, i) => (
          <li key={a.id}>
            <AttemptView attempt={a} n={a.attemptNumber ?? i + 1} />
          </li>
        ))}
      </ol>
    </section>
  );
}

function AttemptView({ attempt: a, n }: { attempt: Attempt; n: number }) {
  const ok = a.responseStatus !== null && a.responseStatus >= 200 && a.responseStatus < 300 && !a.errorClass;
  return (
    <article class="attempt" aria-label={`Attempt ${n}`} data-testid="attempt">
      <h3>
        Attempt {n} <Status value={ok ? 'succeeded' : 'failed'} />
      </h3>
      <dl class="facts">
        <dt>Started</dt>
        <dd>{when(a.startedAt)}</dd>
        <dt>Trigger</dt>
        <dd>{a.trigger ?? '—'}</dd>
        <dt>Duration</dt>
        <dd>{ms(a.durationMs)}</dd>
        <dt>Response status</dt>
        <dd data-testid="response-status">{a.responseStatus ?? '—'}</dd>
        {(a.errorClass || a.error) && (
          <>
            <dt>Error</dt>
            <dd>
              {a.errorClass && <code>{a.errorClass}</code>} {a.error}
            </dd>
          </>
        )}
      </dl>
      <details>
        <summary>Request</summary>
        <Headers headers={a.requestHeaders} label="Request headers" />
        <Code label="Request body" text={a.requestBody} />
      </details>
      <details>
        <summary>Response</summary>
        <Headers headers={a.responseHeaders} label="Response headers" />
        <Code label="Response body" text={a.responseBody} />
      </details>
    </article>
  );
}
