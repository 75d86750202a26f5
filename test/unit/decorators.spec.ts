import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { EmitsWebhook, declaredWebhooks } from '../../src/decorators/emits-webhook.decorator.js';
import { OnWebhook } from '../../src/decorators/on-webhook.decorator.js';
import { ON_WEBHOOK_METADATA } from '../../src/webhooks.constants.js';

/** Decorator arguments are checked where they are written: a mistake fails when the class is loaded. */
describe('@EmitsWebhook arguments', () => {
  it('records a valid declaration, functions included', () => {
    const customerId = (e: { org: string }) => e.org;
    @EmitsWebhook<{ org: string }>({ on: ['insert', 'update'], type: 'order.created', customerId })
    class Order {}
    expect(declaredWebhooks(Order, 'update')).toEqual([
      { on: ['insert', 'update'], type: 'order.created', customerId },
    ]);
    expect(declaredWebhooks(Order, 'remove')).toEqual([]);
  });

  it.each([
    [{ on: 'insert', type: 'Order Created' }, /@EmitsWebhook: Event type "Order Created" is invalid/],
    [{ on: 'save', type: 'order.created' }, /"on" must be insert, update, remove or softRemove \(got "save"\)/],
    [
      { on: 'insert', type: 'order.created', customerID: (e: any) => e.org },
      /@EmitsWebhook\(order.created\): unknown option "customerID" \(did you mean "customerId"\?\); it takes on, type, when, data, customerId/,
    ],
    [{ on: 'insert', type: 'order.created', payload: () => ({}) }, /unknown option "payload"; it takes/],
    [
      { on: 'insert', type: 'order.created', customerId: 'org_1' },
      /"customerId" must be a function of the entity \(got string\)/,
    ],
    [{ on: 'insert', type: 'order.created', when: true }, /"when" must be a function of the entity \(got boolean\)/],
    [undefined, /@EmitsWebhook takes an options object/],
  ])('refuses %j', (options, message) => {
    expect(() => EmitsWebhook(options as any)).toThrow(message);
  });
});

describe('@OnWebhook arguments', () => {
  it('records the types and the source', () => {
    class Handlers {
      @OnWebhook('payment.*', { source: 'stripe' })
      @OnWebhook(['invoice.paid'])
      handle() {}
    }
    expect(Reflect.getMetadata(ON_WEBHOOK_METADATA, Handlers.prototype.handle)).toEqual([
      { types: ['invoice.paid'], source: undefined },
      { types: ['payment.*'], source: 'stripe' },
    ]);
  });

  it.each([
    [
      { sorce: 'stripe' },
      /@OnWebhook\("payment.\*"\): unknown option "sorce" \(did you mean "source"\?\); it takes \{ source\? \}/,
    ],
    ['stripe', /the second argument is an options object such as \{ source: "stripe" \} \(got "stripe"\)/],
    [{ source: '' }, /"source" must be the name of an inbound source \(got ""\)/],
    [{ source: ['a'] }, /"source" must be the name of an inbound source/],
  ])('refuses %j', (options, message) => {
    expect(() => OnWebhook('payment.*', options as any)).toThrow(message);
  });
});

describe('decorator errors for values JSON cannot write', () => {
  it('name a BigInt or a symbol instead of throwing a TypeError or showing undefined', () => {
    expect(() => OnWebhook('a.b', { source: 10n as any })).toThrow(
      '@OnWebhook("a.b"): "source" must be the name of an inbound source (got 10n).',
    );
    expect(() => OnWebhook('a.b', 5n as any)).toThrow('(got 5n)');
    expect(() => EmitsWebhook({ on: [Symbol('save') as any], type: 'a.b' })).toThrow(
      '"on" must be insert, update, remove or softRemove (got Symbol(save)).',
    );
  });
});
