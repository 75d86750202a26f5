/**
 * The `Content-Type` of every problem answer of the module (inbound route and portal API), spelt
 * once, so that it does not depend on the adapter (Express adds a charset to a string body,
 * Fastify sends the header as set) or on which of the module's hooks wrote the answer.
 */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';
