import { HttpException } from '@nestjs/common';

/**
 * The stable `code` of every portal API error answer.
 * @publicApi
 */
export type PortalProblemCode =
  | 'unauthorized'
  | 'forbidden'
  | 'portal_header_missing'
  | 'not_found'
  | 'invalid_body'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'invalid_input'
  | 'ui_not_built'
  | 'internal';

/** Status and title of each code (docs/portal.md, errors). */
export const PORTAL_PROBLEMS: Record<PortalProblemCode, { status: number; title: string }> = {
  unauthorized: { status: 401, title: 'Portal session missing, expired or revoked' },
  forbidden: { status: 403, title: 'Not allowed in this portal session' },
  portal_header_missing: { status: 403, title: 'X-Webhooks-Portal header required' },
  not_found: { status: 404, title: 'Not found' },
  invalid_body: { status: 400, title: 'Request body not readable' },
  payload_too_large: { status: 413, title: 'Request body too large' },
  unsupported_media_type: { status: 415, title: 'Request body of an unsupported type' },
  invalid_input: { status: 422, title: 'Invalid input' },
  ui_not_built: { status: 503, title: 'Portal page not built' },
  internal: { status: 500, title: 'Portal error' },
};

/** An RFC 9457 body, as every portal error is answered. */
export interface PortalProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: PortalProblemCode | string;
}

/** The answer to a body that is JSON but not an object (`null`, `5`, `"x"`, `[]`), on every adapter. */
export function notAnObject(): PortalProblem {
  return new PortalProblem('invalid_input', 'The body must be a JSON object.');
}

/** A portal error answer; {@link PortalProblemFilter} writes it as `application/problem+json`. */
export class PortalProblem extends HttpException {
  readonly body: PortalProblemBody;

  constructor(code: PortalProblemCode, detail: string) {
    const { status, title } = PORTAL_PROBLEMS[code];
    super(detail, status);
    this.body = { type: `urn:nestjs-webhooks:portal:${code}`, title, status, detail, code };
  }
}
