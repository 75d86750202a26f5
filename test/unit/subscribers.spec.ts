import { describe, expect, it } from '@jest/globals';
import { DataSource, type EntitySubscriberInterface } from 'typeorm';
import { attachSubscriber, detachSubscriber } from '../../src/database/subscribers.js';

describe('attachSubscriber / detachSubscriber', () => {
  // Never initialized: only its subscriber list is used, no connection is opened.
  const dataSource = new DataSource({ type: 'better-sqlite3', database: ':memory:' });

  it('adds a subscriber once and removes it, leaving the others', () => {
    const other: EntitySubscriberInterface = {};
    const mine: EntitySubscriberInterface = {};
    dataSource.subscribers.push(other);
    attachSubscriber(dataSource, mine);
    attachSubscriber(dataSource, mine);
    expect(dataSource.subscribers).toEqual([other, mine]);
    expect(dataSource.subscribers.filter((s) => s === mine)).toHaveLength(1);
    detachSubscriber(dataSource, mine);
    detachSubscriber(dataSource, mine);
    expect(dataSource.subscribers).toEqual([other]);
    expect(dataSource.subscribers[0]).toBe(other);
  });
});
