import type { DataSource, EntitySubscriberInterface } from 'typeorm';

/**
 * Adds `subscriber` to the DataSource's live subscriber list, once. Nest-built subscribers are
 * added this way (not through the `subscribers` option) so that they keep their injected dependencies.
 */
export function attachSubscriber(dataSource: DataSource, subscriber: EntitySubscriberInterface): void {
  if (!dataSource.subscribers.includes(subscriber)) dataSource.subscribers.push(subscriber);
}

/** Removes `subscriber` from the DataSource's subscriber list, if there; at shutdown, so no event reaches it after. */
export function detachSubscriber(dataSource: DataSource, subscriber: EntitySubscriberInterface): void {
  const at = dataSource.subscribers.indexOf(subscriber);
  if (at >= 0) dataSource.subscribers.splice(at, 1);
}
