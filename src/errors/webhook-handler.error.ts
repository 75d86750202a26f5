/** One or more handlers threw; the first error is the cause. */
export class WebhookHandlerError extends Error {
  override readonly name = 'WebhookHandlerError';
  constructor(readonly failures: { handler: string; error: unknown }[]) {
    super(
      failures.map((f) => `${f.handler}: ${f.error instanceof Error ? f.error.message : String(f.error)}`).join('; '),
      {
        cause: failures[0]?.error,
      },
    );
  }
}
