import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { WebhookNotFoundError } from '../errors/webhook-not-found.error.js';
import { WebhookValidationError } from '../errors/webhook-validation.error.js';
import { PROBLEM_CONTENT_TYPE } from '../utils/problem-type.js';
import { PortalProblem, type PortalProblemBody } from './portal.problem.js';

/**
 * Every error of the portal's routes as `application/problem+json`: the service's validation
 * errors are 422, unknown ids 404, the app guard's own HTTP errors keep their status, the rest 500
 * (logged, not echoed).
 */
@Catch()
export class PortalProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger(PortalProblemFilter.name);

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const body = this.toProblem(error);
    const adapter = this.adapterHost.httpAdapter;
    const response = host.switchToHttp().getResponse();
    adapter.setHeader(response, 'Content-Type', PROBLEM_CONTENT_TYPE);
    adapter.setHeader(response, 'Cache-Control', 'no-store');
    adapter.reply(response, JSON.stringify(body), body.status);
  }

  private toProblem(error: unknown): PortalProblemBody {
    if (error instanceof PortalProblem) return error.body;
    if (error instanceof WebhookValidationError) return new PortalProblem('invalid_input', error.message).body;
    if (error instanceof WebhookNotFoundError) return new PortalProblem('not_found', error.message).body;
    if (error instanceof HttpException) {
      const status = error.getStatus();
      const code = status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : `http_${status}`;
      return { type: `urn:nestjs-webhooks:portal:${code}`, title: error.name, status, detail: error.message, code };
    }
    this.logger.error(`Portal request failed: ${(error as Error)?.stack ?? error}`);
    return new PortalProblem('internal', 'The request failed; the server log has the details.').body;
  }
}
