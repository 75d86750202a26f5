/** Sending many events through the module and reading where their deliveries stand. */
import type { DataSource } from 'typeorm';
import type { WebhookService } from '../../src/outbound/webhook.service.js';
import { eventually } from './receiver.js';

/** Sends `count` events to `customerId`, `parallel` at a time; returns the message ids (the webhook-ids). */
export async function sendMany(
  svc: WebhookService,
  count: number,
  customerId: string,
  parallel = 10,
): Promise<{ messageIds: string[]; deliveryIds: string[] }> {
  const messageIds: string[] = [];
  const deliveryIds: string[] = [];
  for (let i = 0; i < count; i += parallel) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(parallel, count - i) }, (_, k) =>
        svc.send('fault.test', { n: i + k }, { customerId }),
      ),
    );
    for (const r of batch) {
      messageIds.push(r.messageId);
      deliveryIds.push(...r.deliveryIds);
    }
  }
  return { messageIds, deliveryIds };
}

/** Delivery rows by status, for the deliveries in `ids` (all of them when omitted). */
export async function statusCounts(ds: DataSource, ids?: string[]): Promise<Record<string, number>> {
  const qb = ds
    .createQueryBuilder()
    .select('d.status', 'status')
    .addSelect('COUNT(*)', 'n')
    .from('webhook_deliveries', 'd')
    .groupBy('d.status');
  if (ids) qb.where('d.id IN (:...ids)', { ids });
  const rows: { status: string; n: string | number }[] = await qb.getRawMany();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/**
 * Waits until every delivery in `ids` has succeeded; resolves false instead of throwing on
 * timeout, so the scenario still prints its tally before its assertions fail.
 */
export async function allSucceeded(ds: DataSource, ids: string[], timeoutMs = 60_000): Promise<boolean> {
  return eventually(async () => (await statusCounts(ds, ids)).succeeded === ids.length, timeoutMs, 100).then(
    () => true,
    () => false,
  );
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
