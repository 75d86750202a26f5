import { useState } from 'preact/hooks';
import type { Endpoint } from '../api';
import { StatsPanel } from '../chart';
import { Action, Field, Problem, Status } from '../components';
import { usePortal } from '../context';
import { asText, go, href, isoFromLocal, localHoursAgo, useLoad, when } from '../util';

export function EndpointDetail({ id }: { id: string }) {
  const { api, canManage } = usePortal();
  const loaded = useLoad(() => api.endpoint(id), [api, id]);
  const e = loaded.data;
  if (loaded.error) return <Problem error={loaded.error} />;
  if (!e) return <p class="loading">Loading…</p>;

  return (
    <section aria-labelledby="endpoint-title">
      <p>
        <a href={href.endpoints()}>← Endpoints</a>
      </p>
      <h1 id="endpoint-title" class="url">
        {e.url}
      </h1>
      <dl class="facts">
        <dt>State</dt>
        <dd>
          <Status value={e.disabled ? 'disabled' : e.failingSince ? 'failing' : 'enabled'} />
          {e.disabledReason && <span class="muted"> {e.disabledReason}</span>}
          {e.failingSince && <span class="muted"> failing since {when(e.failingSince)}</span>}
        </dd>
        <dt>Description</dt>
        <dd>{e.description ?? '—'}</dd>
        <dt>Event types</dt>
        <dd>{e.eventTypes?.length ? e.eventTypes.join(', ') : 'All'}</dd>
        <dt>Created</dt>
        <dd>{when(e.createdAt)}</dd>
        <dt>Id</dt>
        <dd>
          <code>{e.id}</code>
        </dd>
      </dl>
      <p class="actions">
        <a class="button" href={href.messages(e.id)}>
          Messages to this endpoint
        </a>
        {canManage && (
          <>
            <a class="button" href={href.editEndpoint(e.id)}>
              Edit
            </a>
            <Action
              run={() => api.updateEndpoint(e.id, { disabled: !e.disabled })}
              done={() => {
                loaded.reload();
                return e.disabled ? 'Endpoint enabled.' : 'Endpoint disabled.';
              }}
            >
              {e.disabled ? 'Enable' : 'Disable'}
            </Action>
            <DeleteEndpoint endpoint={e} />
          </>
        )}
      </p>
      <StatsPanel endpointId={e.id} />
      <Secret endpoint={e} />
      {canManage && <SendTest endpoint={e} />}
      {canManage && <Recovery endpoint={e} />}
    </section>
  );
}

function DeleteEndpoint({ endpoint }: { endpoint: Endpoint }) {
  const { api } = usePortal();
  const [confirming, setConfirming] = useState(false);
  if (!confirming)
    return (
      <button type="button" class="danger" onClick={() => setConfirming(true)}>
        Delete…
      </button>
    );
  return (
    <span role="group" aria-label="Confirm deletion" class="confirm">
      <span>Delete this endpoint and stop its deliveries?</span>
      <Action
        kind="danger"
        run={() => api.deleteEndpoint(endpoint.id)}
        done={() => {
          go(href.endpoints());
          return 'Endpoint deleted.';
        }}
      >
        Yes, delete
      </Action>
      <button type="button" onClick={() => setConfirming(false)}>
        Keep it
      </button>
    </span>
  );
}

function Secret({ endpoint }: { endpoint: Endpoint }) {
  const { api, canManage } = usePortal();
  const [secret, setSecret] = useState<string | null>(null);
  const [grace, setGrace] = useState('86400000');
  return (
    <section aria-labelledby="secret-title" class="panel">
      <h2 id="secret-title">Signing secret</h2>
      <p>
        <code data-testid="secret">{secret ?? endpoint.secretMasked ?? '••••'}</code>
      </p>
      {canManage && (
        <div class="actions">
          {secret ? (
            <button type="button" onClick={() => setSecret(null)}>
              Hide secret
            </button>
          ) : (
            <Action
              run={() => api.revealSecret(endpoint.id)}
              done={(r: { secret: string }) => void setSecret(r.secret)}
            >
              Reveal secret
            </Action>
          )}
          <Field label="Old secret stays valid for">
            <select value={grace} onChange={(e) => setGrace(e.currentTarget.value)}>
              <option value="0">no time (rotate at once)</option>
              <option value="3600000">1 hour</option>
              <option value="86400000">24 hours</option>
              <option value="604800000">7 days</option>
            </select>
          </Field>
          <Action
            run={() => api.rotateSecret(endpoint.id, Number(grace))}
            done={(r: { secret: string }) => {
              setSecret(r.secret);
              return 'Secret rotated: update your receiver.';
            }}
          >
            Rotate secret
          </Action>
        </div>
      )}
    </section>
  );
}

function SendTest({ endpoint }: { endpoint: Endpoint }) {
  const { api, eventTypes } = usePortal();
  const choices = eventTypes.filter((t) => !endpoint.eventTypes || endpoint.eventTypes.includes(t.name));
  const [type, setType] = useState(choices[0]?.name ?? endpoint.eventTypes?.[0] ?? '');
  const example = (name: string) => asText(eventTypes.find((t) => t.name === name)?.example ?? {});
  const [payload, setPayload] = useState(() => example(type));
  const [sent, setSent] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);

  const send = async () => {
    setError(null);
    let body: unknown;
    try {
      body = payload.trim() ? JSON.parse(payload) : undefined;
    } catch {
      setError(new Error('The payload is not valid JSON.'));
      return;
    }
    const r = await api.sendTest(endpoint.id, type, body);
    setSent(r.messageId);
  };

  return (
    <section aria-labelledby="test-title" class="panel">
      <h2 id="test-title">Send a test event</h2>
      <div class="form">
        <Field label="Event type">
          {choices.length > 0 ? (
            <select
              value={type}
              onChange={(e) => {
                setType(e.currentTarget.value);
                setPayload(example(e.currentTarget.value));
              }}
            >
              {choices.map((t) => (
                <option key={t.name} value={t.name}>
                  {t.name}
                </option>
              ))}
            </select>
          ) : (
            <input value={type} onInput={(e) => setType(e.currentTarget.value)} />
          )}
        </Field>
        <Field label="Payload (JSON)">
          <textarea rows={5} value={payload} onInput={(e) => setPayload(e.currentTarget.value)} spellcheck={false} />
        </Field>
        <Problem error={error} />
        <div class="actions">
          <Action kind="primary" run={send} done={() => 'Test event sent.'} disabled={!type}>
            Send test event
          </Action>
          {sent && <a href={href.message(sent)}>See the test message</a>}
        </div>
      </div>
    </section>
  );
}

function Recovery({ endpoint }: { endpoint: Endpoint }) {
  const { api } = usePortal();
  const [since, setSince] = useState(() => localHoursAgo(24));
  const count = (r: { deliveryIds: string[] }) => `${r.deliveryIds.length} deliveries queued again.`;
  const at = () => isoFromLocal(since) ?? new Date(Date.now() - 86400_000).toISOString();
  return (
    <section aria-labelledby="recover-title" class="panel">
      <h2 id="recover-title">Recover</h2>
      <div class="form">
        <Field label="Since" hint="Your local time.">
          <input type="datetime-local" value={since} onInput={(e) => setSince(e.currentTarget.value)} />
        </Field>
        <div class="actions">
          <Action run={() => api.recover(endpoint.id, at())} done={count}>
            Retry failed deliveries since then
          </Action>
          <Action run={() => api.replayMissing(endpoint.id, at())} done={count}>
            Send messages missed since then
          </Action>
        </div>
      </div>
    </section>
  );
}
