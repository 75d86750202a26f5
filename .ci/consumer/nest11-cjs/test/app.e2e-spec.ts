// The app's own Jest suite (CommonJS mode), as a Nest user writes it: boots the README's AppModule
// and posts signed calls with the testing kit of the installed package.
import { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { WebhookService } from 'nestjs-webhooks';
import { postWebhook } from 'nestjs-webhooks/testing';
import { AppModule } from '../src/app.module';

describe('webhooks (e2e)', () => {
  let app: INestApplication;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = moduleRef.createNestApplication({ rawBody: true });
    await app.init();
  });

  afterAll(() => app.close());

  it('runs the handler for a signed call, which sends order.paid', async () => {
    await postWebhook(app, 'partner', { type: 'payment.completed', data: { id: 'pay_e2e' } }).expect(200);
    const messages = await app.get(WebhookService).listMessages();
    const sent = messages.data.find((m) => m.type === 'order.paid');
    expect(JSON.parse(sent?.body ?? '{}').data).toEqual({ payment_id: 'pay_e2e' });
  });

  it('refuses a call signed with another secret', () =>
    postWebhook(
      app,
      'partner',
      { type: 'payment.completed', data: { id: 'pay_forged' } },
      { secret: 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD' },
    ).expect(401));
});
