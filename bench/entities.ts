import { Entity } from 'typeorm';
import { Order } from '../demo/order.entity.js';
import { EmitsWebhook } from '../src/decorators/emits-webhook.decorator.js';

/**
 * The demo's `Order` columns in a table of its own, emitting `bench.order.created` on insert
 * (declaratively, like the demo). It also inherits the demo's `order.completed` on update, which
 * inserts never trigger.
 */
@Entity('bench_orders')
@EmitsWebhook<BenchOrder>({
  on: 'insert',
  type: 'bench.order.created',
  data: (o) => ({ order_id: String(o.id), user_id: o.userId, status: o.status, total: o.total }),
})
export class BenchOrder extends Order {}

/** The same columns, no webhook on insert: the baseline. */
@Entity('bench_plain_orders')
export class BenchPlain extends Order {}

/** The same columns again, for the seed's recipe: a subscriber of its own adds a Bull job on insert. */
@Entity('bench_recipe_orders')
export class BenchRecipe extends Order {}
