import { useEffect, useState } from 'preact/hooks';
import type { Endpoint } from '../api';
import { Problem, Status } from '../components';
import { usePortal } from '../context';
import { href, when } from '../util';

export function EndpointList() {
  const { api, canManage } = usePortal();
  const [rows, setRows] = useState<Endpoint[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(true);

  const load = (from: string | null) => {
    setLoading(true);
    api.endpoints(from).then(
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
  useEffect(() => load(null), [api]);

  return (
    <section aria-labelledby="endpoints-title">
      <div class="title-row">
        <h1 id="endpoints-title">Endpoints</h1>
        {canManage && (
          <a class="button primary" href={href.newEndpoint()}>
            Add endpoint
          </a>
        )}
      </div>
      <Problem error={error} />
      {!loading && rows.length === 0 && !error && <p class="muted">No endpoints yet.</p>}
      {rows.length > 0 && (
        <table class="list">
          <thead>
            <tr>
              <th scope="col">URL</th>
              <th scope="col">Event types</th>
              <th scope="col">State</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((e) => (
              <tr key={e.id}>
                <td>
                  <a href={href.endpoint(e.id)} class="url">
                    {e.url}
                  </a>
                  {e.description && <div class="muted">{e.description}</div>}
                </td>
                <td>{e.eventTypes?.length ? e.eventTypes.join(', ') : 'All'}</td>
                <td>
                  <Status value={e.disabled ? 'disabled' : e.failingSince ? 'failing' : 'enabled'} />
                </td>
                <td>{when(e.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cursor && (
        <button type="button" onClick={() => load(cursor)} disabled={loading}>
          Load more endpoints
        </button>
      )}
    </section>
  );
}
