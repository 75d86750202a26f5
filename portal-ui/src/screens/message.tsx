import { Code, Problem, Status } from '../components';
import { usePortal } from '../context';
import { asText, href, useLoad, when } from '../util';

export function MessageDetail({ id }: { id: string }) {
  const { api } = usePortal();
  const loaded = useLoad(() => api.message(id), [api, id]);
  if (loaded.error) return <Problem error={loaded.error} />;
  if (!loaded.data) return <p class="loading">Loading…</p>;
  const { message, deliveries } = loaded.data;
  return (
    <section aria-labelledby="message-title">
      <p>
        <a href={href.messages()}>← Messages</a>
      </p>
      <h1 id="message-title">
        <code>{message.eventType}</code>
      </h1>
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <Status value={message.status} />
        </dd>
        <dt>Created</dt>
        <dd>{when(message.createdAt)}</dd>
        <dt>Id</dt>
        <dd>
          <code>{message.id}</code>
        </dd>
      </dl>
      <h2>Payload</h2>
      <Code label="Payload" text={asText(message.payload)} />
      <h2>Deliveries</h2>
      <div class="actions">
        <button type="button" onClick={loaded.reload}>
          Refresh
        </button>
      </div>
      {deliveries.length === 0 ? (
        <p class="muted">No endpoint was subscribed to this message.</p>
      ) : (
        <table class="list">
          <thead>
            <tr>
              <th scope="col">Delivery</th>
              <th scope="col">Endpoint</th>
              <th scope="col">Status</th>
              <th scope="col">Attempts</th>
              <th scope="col">Last response</th>
            </tr>
          </thead>
          <tbody>
            {deliveries.map((d) => (
              <tr key={d.id}>
                <td>
                  <a href={href.delivery(d.id)}>Delivery {d.id.slice(0, 8)}</a>
                </td>
                <td>
                  <a href={href.endpoint(d.endpointId)}>
                    <code>{d.endpointId.slice(0, 8)}</code>
                  </a>
                </td>
                <td>
                  <Status value={d.status} />
                </td>
                <td>{d.attempts ?? '—'}</td>
                <td>{d.lastStatusCode ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
