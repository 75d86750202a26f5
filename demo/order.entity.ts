import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { EmitsWebhook } from '../src/index.js';

/**
 * The seed's `Order`, with its `post_save` receiver turned into a declaration: it emits
 * `order.completed` once, on the change to `completed`, and only if the save commits.
 */
@Entity('orders')
@EmitsWebhook<Order>({
  on: 'update',
  type: 'order.completed',
  when: (order, previous) => order.status === 'completed' && previous?.status !== 'completed',
  data: (order) => ({
    order_id: String(order.id),
    user_id: order.userId,
    total: order.total,
    completed_at: order.completedAt?.toISOString() ?? null,
  }),
  customerId: (order) => order.organizationId,
})
export class Order {
  @PrimaryGeneratedColumn()
  id: number;

  @Column({ name: 'user_id', type: 'varchar', length: 64 })
  userId: string;

  /** The user's organization: the tenant whose endpoints hear about this order. */
  @Column({ name: 'organization_id', type: 'varchar', length: 64 })
  organizationId: string;

  @Column({ type: 'varchar', length: 16, default: 'pending' })
  status: 'pending' | 'completed' | 'cancelled';

  /** Money as a decimal string, as the seed sends it. */
  @Column({ type: 'varchar', length: 32 })
  total: string;

  @Column({
    name: 'completed_at',
    type: 'bigint',
    nullable: true,
    transformer: {
      to: (d?: Date | null) => d?.getTime() ?? d,
      from: (v: string | null) => (v == null ? null : new Date(Number(v))),
    },
  })
  completedAt: Date | null;
}
