import type { WebhookVerifier } from './webhook-verifier.interface.js';

/**
 * Built-in signature schemes for inbound sources.
 * @publicApi
 */
export type BuiltInScheme = 'standard' | 'hmac-sha256' | 'stripe' | 'github' | 'shopify' | 'slack';

/**
 * One sender whose webhooks this app accepts at `POST /<path>/<name>`.
 * @publicApi
 */
export interface InboundSourceOptions {
  /** A built-in scheme name, or a custom {@link WebhookVerifier}. */
  scheme: BuiltInScheme | WebhookVerifier;
  /** Accepted secrets; more than one during a rotation. Never empty. */
  secrets: string[];
  /**
   * Largest accepted distance between a signed timestamp and now, in seconds, both directions.
   * @default 300
   */
  tolerance?: number;
  /** `hmac-sha256` only: header carrying the signature. @default 'x-webhook-signature' */
  header?: string;
  /** `hmac-sha256` only: prefix before the digest, such as `sha256=`. @default '' */
  prefix?: string;
  /** `hmac-sha256` only: digest encoding. @default 'hex' */
  encoding?: 'hex' | 'base64';
  /** Reads the event type from the parsed payload and headers; overrides the scheme's. */
  eventType?: (payload: any, headers: Record<string, string | undefined>) => string | undefined;
  /** Reads the event id from the parsed payload and headers; overrides the scheme's. */
  eventId?: (payload: any, headers: Record<string, string | undefined>) => string | undefined;
}
