import type { CanActivate, Type } from '@nestjs/common';

/**
 * One entry of the event-type catalog: what the portal's picker lists and "send test event" sends.
 * @publicApi
 */
export interface EventTypeDefinition {
  /** An exact event type, such as `order.completed`. */
  name: string;
  description?: string;
  /** Payload sent by the portal's "send test event" when none is given. */
  example?: unknown;
  /** JSON Schema of the payload, shown to customers (not enforced by `send`). */
  schema?: object;
}

/**
 * Colours of the portal page; the page's `?theme=` and `?primary=` query parameters override them.
 * @publicApi
 */
export interface PortalThemeOptions {
  /** A CSS hex colour (`#RRGGBB` or `#RGB`). @default '#4f46e5' */
  primaryColor?: string;
  /** @default 'auto' */
  mode?: 'light' | 'dark' | 'auto';
}

/**
 * The customer portal: a page and a JSON API under `/<path>`, scoped to one customer per session.
 * @publicApi
 */
export interface PortalOptions {
  /** Route prefix of the page (`GET /<path>`) and its API (`/<path>/api`). @default 'webhooks/portal' */
  path?: string;
  /** Absolute origin (and prefix) the magic links start with, e.g. `https://app.example.com`. @default '' (links are relative) */
  baseUrl?: string;
  /**
   * App-auth mode: the app's own guard authenticates the portal's API calls (cookies), and
   * `customerId` tells which customer the caller is. Both or neither. @default none (tokens only)
   */
  guard?: Type<CanActivate>;
  /** App-auth mode: the customer of an authenticated request. @default none */
  customerId?: (req: any) => string | Promise<string>;
  /** The admin API (`/<path>/admin/api`), across customers, behind the app's guard. @default not mounted */
  admin?: { guard: Type<CanActivate> };
  /** @default { primaryColor: '#4f46e5', mode: 'auto' } */
  theme?: PortalThemeOptions;
  /** `frame-ancestors` of the page's Content-Security-Policy: who may embed it in an iframe. @default ["'self'"] */
  frameAncestors?: string[];
  /** Lifetime of a session made by `PortalService.createSession` without `expiresIn`, in ms. @default 3_600_000 */
  sessionTtlMs?: number;
}

/** Portal options with every default filled in. */
export interface ResolvedPortalOptions {
  path: string;
  baseUrl: string;
  guard: Type<CanActivate> | null;
  customerId: ((req: any) => string | Promise<string>) | null;
  admin: { guard: Type<CanActivate> } | null;
  theme: Required<PortalThemeOptions>;
  frameAncestors: string[];
  sessionTtlMs: number;
}
