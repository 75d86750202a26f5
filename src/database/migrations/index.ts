import { CreateWebhookTables1764000000000 } from './1764000000000-create-webhook-tables.js';
import { AddPortalSessions1765000000000 } from './1765000000000-add-portal-sessions.js';
import { AddAttemptHeaders1766000000000 } from './1766000000000-add-attempt-headers.js';
import { AddInboxOpenIndex1767000000000 } from './1767000000000-add-inbox-open-index.js';
import { AddMessageEndpoint1768000000000 } from './1768000000000-add-message-endpoint.js';

export {
  AddAttemptHeaders1766000000000,
  AddInboxOpenIndex1767000000000,
  AddMessageEndpoint1768000000000,
  AddPortalSessions1765000000000,
  CreateWebhookTables1764000000000,
};

/**
 * The module's migrations, in order: add them to your DataSource's `migrations`.
 * @publicApi
 */
export const WEBHOOK_MIGRATIONS = [
  CreateWebhookTables1764000000000,
  AddPortalSessions1765000000000,
  AddAttemptHeaders1766000000000,
  AddInboxOpenIndex1767000000000,
  AddMessageEndpoint1768000000000,
];
