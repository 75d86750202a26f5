import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { EmitsWebhook } from '../src/index.js';

const payload = (s: Subscription) => ({
  subscription_id: String(s.id),
  user_id: s.userId,
  plan: s.plan,
  status: s.status,
});

/** The seed's `Subscription`: `subscription.created` on insert, `subscription.updated` on every update. */
@Entity('subscriptions')
@EmitsWebhook<Subscription>({
  on: 'insert',
  type: 'subscription.created',
  data: payload,
  customerId: (s) => s.organizationId,
})
@EmitsWebhook<Subscription>({
  on: 'update',
  type: 'subscription.updated',
  data: payload,
  customerId: (s) => s.organizationId,
})
export class Subscription {
  @PrimaryGeneratedColumn()
  id: number;

  @Column({ name: 'user_id', type: 'varchar', length: 64 })
  userId: string;

  @Column({ name: 'organization_id', type: 'varchar', length: 64 })
  organizationId: string;

  /** The plan's name. */
  @Column({ type: 'varchar', length: 64 })
  plan: string;

  @Column({ type: 'varchar', length: 16 })
  status: 'active' | 'past_due' | 'cancelled';
}
