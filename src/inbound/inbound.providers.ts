import { Controller, type Provider, type Type } from '@nestjs/common';

// Placeholder wiring until the inbound side lands; replaced by the inbound implementation.
export const INBOUND_PROVIDERS: Provider[] = [];

export function createWebhooksController(_path: string): Type<unknown> {
  @Controller(_path)
  class WebhooksController {}
  return WebhooksController;
}
