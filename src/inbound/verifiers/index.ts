import type { BuiltInScheme, InboundSourceOptions } from '../../interfaces/inbound-source.interface.js';
import type { WebhookVerifier } from '../../interfaces/webhook-verifier.interface.js';
import { GitHubVerifier } from './github.verifier.js';
import { HmacSha256Verifier } from './hmac-sha256.verifier.js';
import type { BuiltInVerifier } from './verifier.utils.js';
import { ShopifyVerifier } from './shopify.verifier.js';
import { SlackVerifier } from './slack.verifier.js';
import { StandardWebhooksVerifier } from './standard.verifier.js';
import { StripeVerifier } from './stripe.verifier.js';

export { GitHubVerifier, HmacSha256Verifier, ShopifyVerifier, SlackVerifier, StandardWebhooksVerifier, StripeVerifier };
export type { HmacSha256Settings } from './hmac-sha256.verifier.js';
export type { BuiltInVerifier, SigningInput } from './verifier.utils.js';

/** The verifier of a built-in scheme, with the `hmac-sha256` settings taken from `source`. */
export function builtInVerifier(scheme: BuiltInScheme, source: Partial<InboundSourceOptions> = {}): BuiltInVerifier {
  switch (scheme) {
    case 'standard':
      return new StandardWebhooksVerifier();
    case 'hmac-sha256':
      return new HmacSha256Verifier({
        header: (source.header ?? 'x-webhook-signature').toLowerCase(),
        prefix: source.prefix ?? '',
        encoding: source.encoding ?? 'hex',
      });
    case 'stripe':
      return new StripeVerifier();
    case 'github':
      return new GitHubVerifier();
    case 'shopify':
      return new ShopifyVerifier();
    case 'slack':
      return new SlackVerifier();
  }
}

/** The verifier of a source: its custom one, or the built-in scheme it names. */
export function verifierFor(source: InboundSourceOptions): WebhookVerifier {
  return typeof source.scheme === 'string' ? builtInVerifier(source.scheme, source) : source.scheme;
}
