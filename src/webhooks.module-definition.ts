import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { WebhooksModuleOptions } from './interfaces/webhooks-options.interface.js';

/**
 * Extras accepted by `forRoot` / `forRootAsync` beside the options themselves.
 * @publicApi
 */
export interface WebhooksModuleExtras {
  /** Make `WebhookService` injectable everywhere without importing the module again. @default true */
  isGlobal?: boolean;
  /**
   * `forRootAsync` only: route prefix of the inbound controller (routes are fixed before async
   * options resolve). With `forRoot`, use `inbound.path`. @default 'webhooks'
   */
  inboundPath?: string;
}

export const {
  ConfigurableModuleClass: ConfigurableWebhooksModule,
  MODULE_OPTIONS_TOKEN: WEBHOOKS_MODULE_OPTIONS,
  OPTIONS_TYPE: WEBHOOKS_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: WEBHOOKS_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<WebhooksModuleOptions>({ moduleName: 'Webhooks' })
  .setClassMethodName('forRoot')
  .setExtras<WebhooksModuleExtras>({ isGlobal: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
