import type { PortalScope } from '../database/entities/webhook-portal-session.entity.js';

/**
 * Arguments of `PortalService.createSession`.
 * @publicApi
 */
export interface CreatePortalSessionInput {
  /** The customer whose endpoints and log the session sees (the `customerId` of `send` and endpoints). */
  customerId: string;
  /** Lifetime in milliseconds; `null` for a session that lasts until revoked. @default portal.sessionTtlMs */
  expiresIn?: number | null;
  /** @default 'read' */
  scope?: PortalScope;
}

/**
 * A new portal session: hand `url` (or `token`) to the customer; the token is shown only here.
 * @publicApi
 */
export interface PortalSessionLink {
  /** Session id, for `revokeSession`. */
  id: string;
  /** The magic link: `<baseUrl>/<path>#token=<token>` (the fragment never reaches a server log). */
  url: string;
  token: string;
  expiresAt: Date | null;
}

/**
 * Who is calling the portal API: a customer's session, the app's own user (app-auth mode), or an operator.
 * @publicApi
 */
export interface PortalActor {
  kind: 'portal' | 'admin';
  /** Null for an operator of the admin API (every customer). */
  customerId: string | null;
  scope: PortalScope;
  /** Set for token sessions. */
  sessionId?: string;
  expiresAt: Date | null;
}
