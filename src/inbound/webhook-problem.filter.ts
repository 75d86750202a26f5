import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { PROBLEM_CONTENT_TYPE } from '../utils/problem-type.js';
import { WebhookProblem } from './webhook.problem.js';

/** Writes a {@link WebhookProblem} as `application/problem+json`, on Express and Fastify alike. */
@Catch(WebhookProblem)
export class WebhookProblemFilter implements ExceptionFilter<WebhookProblem> {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(problem: WebhookProblem, host: ArgumentsHost): void {
    const adapter = this.adapterHost.httpAdapter;
    const response = host.switchToHttp().getResponse();
    adapter.setHeader(response, 'Content-Type', PROBLEM_CONTENT_TYPE);
    for (const [name, value] of Object.entries(problem.headers)) adapter.setHeader(response, name, value);
    adapter.reply(response, JSON.stringify(problem.body), problem.body.status);
  }
}
