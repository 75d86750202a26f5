// Small shared pieces of the screens: loading state, formatting, routes.
import { useCallback, useEffect, useState } from 'preact/hooks';

export interface Loaded<T> {
  data: T | null;
  error: Error | null;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change; answers that arrive after a newer call started are dropped. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: Error | null; loading: boolean }>({
    data: null,
    error: null,
    loading: true,
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let current = true;
    setState((s) => ({ ...s, loading: true, error: null }));
    load().then(
      (data) => current && setState({ data, error: null, loading: false }),
      (error: Error) => current && setState({ data: null, error, loading: false }),
    );
    return () => {
      current = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function ms(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : `${Math.round(value)} ms`;
}

/** A payload shown as text: strings as they are, anything else as indented JSON. */
export function asText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

/** `datetime-local` value (local time) to an ISO instant. */
export function isoFromLocal(value: string): string | undefined {
  if (!value) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** A `datetime-local` value for `hoursAgo` hours before now. */
export function localHoursAgo(hoursAgo: number): string {
  const d = new Date(Date.now() - hoursAgo * 3600_000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export type Route =
  | { name: 'endpoints' }
  | { name: 'new-endpoint' }
  | { name: 'endpoint'; id: string }
  | { name: 'edit-endpoint'; id: string }
  | { name: 'messages'; endpointId?: string }
  | { name: 'message'; id: string }
  | { name: 'delivery'; id: string };

/** Routes live in the fragment (`#/endpoints/…`) so links are real links and Back works. */
export function parseRoute(hash: string): Route {
  const [path, search] = hash.replace(/^#\/?/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const q = new URLSearchParams(search ?? '');
  if (parts[0] === 'endpoints' && parts[1] === 'new') return { name: 'new-endpoint' };
  if (parts[0] === 'endpoints' && parts[1] && parts[2] === 'edit') return { name: 'edit-endpoint', id: parts[1] };
  if (parts[0] === 'endpoints' && parts[1]) return { name: 'endpoint', id: parts[1] };
  if (parts[0] === 'messages' && parts[1]) return { name: 'message', id: parts[1] };
  if (parts[0] === 'messages') return { name: 'messages', endpointId: q.get('endpointId') ?? undefined };
  if (parts[0] === 'deliveries' && parts[1]) return { name: 'delivery', id: parts[1] };
  return { name: 'endpoints' };
}

/**
 * A link to a route of this page. Spelled with the page's own path and query: the server adds a
 * `<base>` for the assets, and a bare `#/…` would resolve against it (a reload, or another page).
 */
const here = (route: string) => `${location.pathname}${location.search}#/${route}`;
const enc = encodeURIComponent;

export const href = {
  endpoints: () => here('endpoints'),
  newEndpoint: () => here('endpoints/new'),
  endpoint: (id: string) => here(`endpoints/${enc(id)}`),
  editEndpoint: (id: string) => here(`endpoints/${enc(id)}/edit`),
  messages: (endpointId?: string) => here(endpointId ? `messages?endpointId=${enc(endpointId)}` : 'messages'),
  message: (id: string) => here(`messages/${enc(id)}`),
  delivery: (id: string) => here(`deliveries/${enc(id)}`),
};

/** Goes to a route (after an action) as a link would. */
export function go(link: string): void {
  location.hash = link.slice(link.indexOf('#'));
}
