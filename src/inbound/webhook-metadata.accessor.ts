import { Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ON_WEBHOOK_METADATA } from '../webhooks.constants.js';
import type { OnWebhookMetadata } from '../decorators/on-webhook.decorator.js';

/** Reads what `@OnWebhook` stored on a method. */
@Injectable()
export class WebhookMetadataAccessor {
  constructor(private readonly reflector: Reflector) {}

  /** The rules of a method, or undefined when it is not a webhook handler. */
  getHandlerRules(method: Function): OnWebhookMetadata[] | undefined {
    const rules = this.reflector.get<OnWebhookMetadata[] | undefined>(ON_WEBHOOK_METADATA, method);
    return rules && rules.length > 0 ? rules : undefined;
  }
}
