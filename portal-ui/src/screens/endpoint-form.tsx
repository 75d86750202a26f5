import { useEffect, useState } from 'preact/hooks';
import { Field, Problem } from '../components';
import { usePortal } from '../context';
import { go, href } from '../util';

/** Create (no id) or edit an endpoint; the event-type picker lists the app's catalog. */
export function EndpointForm({ id }: { id?: string }) {
  const { api, eventTypes, canManage, notify } = usePortal();
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [all, setAll] = useState(true);
  const [picked, setPicked] = useState<string[]>([]);
  const [disabled, setDisabled] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  // Editing: the form appears once the endpoint is in, so nothing typed meanwhile is overwritten.
  const [ready, setReady] = useState(!id);

  useEffect(() => {
    if (!id) return;
    api.endpoint(id).then((e) => {
      setUrl(e.url);
      setDescription(e.description ?? '');
      setAll(!e.eventTypes);
      setPicked(e.eventTypes ?? []);
      setDisabled(e.disabled);
      setReady(true);
    }, setError);
  }, [api, id]);

  if (!canManage) return <p class="problem">This link can only read.</p>;
  if (!ready) return error ? <Problem error={error} /> : <p class="loading">Loading…</p>;

  // Types the endpoint already has but the catalog no longer lists stay pickable.
  const names = [...new Set([...eventTypes.map((t) => t.name), ...picked])];
  const toggle = (name: string, on: boolean) =>
    setPicked((prev) => (on ? [...prev, name] : prev.filter((n) => n !== name)));

  const onSubmit = async (ev: Event) => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    const body = {
      url: url.trim(),
      description: description.trim() || undefined,
      eventTypes: all ? null : picked,
      disabled,
    };
    try {
      const saved = id ? await api.updateEndpoint(id, body) : await api.createEndpoint(body);
      go(href.endpoint(saved.id));
      notify(id ? 'Endpoint saved.' : 'Endpoint created.');
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="form-title">
      <h1 id="form-title">{id ? 'Edit endpoint' : 'Add endpoint'}</h1>
      <form onSubmit={onSubmit} class="form">
        <Field label="URL" hint="Where the events are POSTed (https://…).">
          <input
            name="url"
            type="url"
            required
            value={url}
            onInput={(e) => setUrl(e.currentTarget.value)}
            autoComplete="off"
          />
        </Field>
        <Field label="Description">
          <input name="description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </Field>
        <fieldset>
          <legend>Event types</legend>
          <label class="check">
            <input type="radio" name="scope" checked={all} onChange={() => setAll(true)} />
            All event types
          </label>
          <label class="check">
            <input type="radio" name="scope" checked={!all} onChange={() => setAll(false)} />
            Only these:
          </label>
          <div class="picker" aria-disabled={all}>
            {names.length === 0 && <p class="muted">The app declares no event types.</p>}
            {names.map((name) => {
              const description = eventTypes.find((t) => t.name === name)?.description;
              return (
                <label class="check" key={name}>
                  <input
                    type="checkbox"
                    value={name}
                    disabled={all}
                    checked={picked.includes(name)}
                    onChange={(e) => toggle(name, e.currentTarget.checked)}
                  />
                  <code>{name}</code>
                  {description && <span class="muted"> {description}</span>}
                </label>
              );
            })}
          </div>
        </fieldset>
        <label class="check">
          <input type="checkbox" checked={disabled} onChange={(e) => setDisabled(e.currentTarget.checked)} />
          Disabled (deliver nothing for now)
        </label>
        <Problem error={error} />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {id ? 'Save endpoint' : 'Create endpoint'}
          </button>
          <a class="button" href={id ? href.endpoint(id) : href.endpoints()}>
            Cancel
          </a>
        </div>
      </form>
    </section>
  );
}
