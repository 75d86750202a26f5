import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { EventType, PortalApi, Session } from './api';

export interface Portal {
  api: PortalApi;
  session: Session;
  eventTypes: EventType[];
  /** Read-scope sessions see no manage actions (the API refuses them anyway). */
  canManage: boolean;
  notify: (text: string, kind?: 'ok' | 'error') => void;
}

export const PortalContext = createContext<Portal | null>(null);

export function usePortal(): Portal {
  const portal = useContext(PortalContext);
  if (!portal) throw new Error('usePortal outside the portal');
  return portal;
}
