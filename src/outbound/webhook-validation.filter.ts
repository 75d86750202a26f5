import { type ArgumentsHost, BadRequestException, Catch, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { WebhookValidationError } from '../errors/webhook-validation.error.js';

/**
 * Answers 400 when a {@link WebhookValidationError} (bad input to `send()` or an endpoint method)
 * escapes one of the app's HTTP handlers: the caller's input was at fault, not the server. It
 * catches that class only, so every other error of every route keeps its own handling; outside
 * HTTP the error goes on unchanged.
 */
@Catch(WebhookValidationError)
export class WebhookValidationFilter implements ExceptionFilter {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(error: WebhookValidationError, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw error;
    const answer = new BadRequestException(error.message);
    this.adapterHost.httpAdapter.reply(host.switchToHttp().getResponse(), answer.getResponse(), answer.getStatus());
  }
}
