import { useEffect, useState } from 'preact/hooks';
import type { Message, MessageFilters } from '../api';
import { Field, Problem, Status } from '../components';
import { usePortal } from '../context';
import { href, isoFromLocal, when } from '../util';

const STATUSES = ['pending', 'succeeded', 'failed'];

/** The message log: filters (type, status, time window, endpoint) and cursor paging. */
export function MessageLog({ endpointId }: { endpointId?: string }) {
  const { api, eventTypes } = usePortal();
  const [form, setForm] = useState({ eventType: '', status: '', since: '', until: '' });
  const [filters, setFilters] = useState<MessageFilters>({ endpointId });
  const [rows, setRows] = useState<Message[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(true);

  const load = (f: MessageFilters, from: string | null) => {
    setLoading(true);
    setError(null);
    api.messages(f, from).then(
      (page) => {
        setRows((prev) => (from ? [...prev, ...page.data] : page.data));
        setCursor(page.nextCursor);
        setLoading(false);
      },
      (e: Error) => {
        setError(e);
        setLoading(false);
      },
    );
  };
  useEffect(() => {
    const f = { ...filters, endpointId };
    setFilters(f);
    load(f, null);
  }, [api, endpointId]);

  const apply = (ev: Event) => {
    ev.preventDefault();
    const f: MessageFilters = {
      endpointId,
      eventType: form.eventType || undefined,
      status: form.status || undefined,
      since: isoFromLocal(form.since),
      until: isoFromLocal(form.until),
    };
    setFilters(f);
    load(f, null);
  };
  const set = (key: keyof typeof form) => (e: Event) =>
    setForm({ ...form, [key]: (e.currentTarget as HTMLInputElement).value });

  return (
    <section aria-labelledby="messages-title">
      <h1 id="messages-title">Messages</h1>
      {endpointId && (
        <p>
          To endpoint <a href={href.endpoint(endpointId)}>{endpointId}</a> · <a href={href.messages()}>all endpoints</a>
        </p>
      )}
      <form class="filters" onSubmit={apply} aria-label="Filter messages">
        <Field label="Event type">
          <input name="eventType" list="event-type-names" value={form.eventType} onInput={set('eventType')} />
          <datalist id="event-type-names">
            {eventTypes.map((t) => (
              <option key={t.name} value={t.name} />
            ))}
          </datalist>
        </Field>
        <Field label="Status">
          <select name="status" value={form.status} onChange={set('status')}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </Field>
        <Field label="From">
          <input name="since" type="datetime-local" value={form.since} onInput={set('since')} />
        </Field>
        <Field label="Until">
          <input name="until" type="datetime-local" value={form.until} onInput={set('until')} />
        </Field>
        <button type="submit" class="primary">
          Apply filters
        </button>
        <button type="button" onClick={() => load(filters, null)}>
          Refresh
        </button>
      </form>
      <Problem error={error} />
      {!loading && rows.length === 0 && !error && <p class="muted">No messages match.</p>}
      {rows.length > 0 && (
        <table class="list">
          <thead>
            <tr>
              <th scope="col">Event type</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((m) => (
              <tr key={m.id}>
                <td>
                  <a href={href.message(m.id)}>
                    <code>{m.eventType}</code>
                  </a>
                </td>
                <td>
                  <Status value={m.status} />
                </td>
                <td>{when(m.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cursor && (
        <button type="button" onClick={() => load(filters, cursor)} disabled={loading}>
          Load older messages
        </button>
      )}
    </section>
  );
}
