import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { EventType, PortalApi, Session, Theme } from './api';
import { ApiError } from './api';
import { applyTheme } from './boot';
import { PortalContext, type Portal } from './context';
import { DeliveryDetail } from './screens/delivery';
import { EndpointDetail } from './screens/endpoint';
import { EndpointForm } from './screens/endpoint-form';
import { EndpointList } from './screens/endpoints';
import { MessageDetail } from './screens/message';
import { MessageLog } from './screens/messages';
import { href, parseRoute, type Route } from './util';

interface Notice {
  text: string;
  kind: 'ok' | 'error';
  /** The route it was given on: an action that navigates (delete, create) says so on the next screen. */
  hash: string;
}

export function App({ api, theme }: { api: PortalApi; theme: Theme }) {
  const [boot, setBoot] = useState<{ session: Session; eventTypes: EventType[] } | { error: Error } | null>(null);
  const [route, setRoute] = useState<Route>(() => parseRoute(location.hash));
  const [notice, setNotice] = useState<Notice | null>(null);

  useEffect(() => {
    Promise.all([api.session(), api.eventTypes().catch(() => ({ data: [] as EventType[] }))]).then(
      ([session, types]) => {
        applyTheme(session.theme ?? {}, theme);
        setBoot({ session, eventTypes: types.data ?? [] });
      },
      (error: Error) => setBoot({ error }),
    );
  }, [api, theme]);

  const main = useRef<HTMLElement>(null);
  useEffect(() => {
    const onHash = () => {
      setRoute(parseRoute(location.hash));
      // A new screen: keyboard and screen-reader users continue from its start, not the old link.
      main.current?.focus();
    };
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  const portal = useMemo<Portal | null>(
    () =>
      boot && 'session' in boot
        ? {
            api,
            session: boot.session,
            eventTypes: boot.eventTypes,
            canManage: boot.session.scope === 'manage',
            notify: (text, kind = 'ok') => setNotice({ text, kind, hash: location.hash }),
          }
        : null,
    [api, boot],
  );

  if (!boot) return <p class="loading">Loading…</p>;
  if ('error' in boot) return <SignedOut error={boot.error} />;
  const section = route.name.includes('endpoint') ? 'endpoints' : 'messages';
  const shown = notice?.hash === location.hash ? notice : null;

  return (
    <PortalContext.Provider value={portal}>
      <header class="top">
        <span class="brand">Webhooks</span>
        <nav aria-label="Sections">
          <a href={href.endpoints()} aria-current={section === 'endpoints' ? 'page' : undefined}>
            Endpoints
          </a>
          <a href={href.messages()} aria-current={section === 'messages' ? 'page' : undefined}>
            Messages
          </a>
        </nav>
        <span class="who" data-testid="who">
          {boot.session.customerId} · {boot.session.scope === 'manage' ? 'can manage' : 'read only'}
        </span>
      </header>
      <div role="status" aria-live="polite" class={shown ? `notice ${shown.kind}` : 'notice empty'}>
        {shown?.text}
      </div>
      <main ref={main} tabIndex={-1}>
        <Screen route={route} />
      </main>
    </PortalContext.Provider>
  );
}

function Screen({ route }: { route: Route }) {
  switch (route.name) {
    case 'endpoints':
      return <EndpointList />;
    case 'new-endpoint':
      return <EndpointForm />;
    case 'edit-endpoint':
      return <EndpointForm id={route.id} />;
    case 'endpoint':
      return <EndpointDetail id={route.id} />;
    case 'messages':
      return <MessageLog endpointId={route.endpointId} />;
    case 'message':
      return <MessageDetail id={route.id} />;
    case 'delivery':
      return <DeliveryDetail id={route.id} />;
  }
}

function SignedOut({ error }: { error: Error }) {
  const expired = error instanceof ApiError && error.status === 401;
  return (
    <main class="signed-out">
      <h1>{expired ? 'This link is no longer valid' : 'The portal could not load'}</h1>
      <p>{expired ? 'Ask for a new link to see your webhooks.' : error.message}</p>
    </main>
  );
}
