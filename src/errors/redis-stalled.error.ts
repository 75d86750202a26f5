/** Thrown instead of waiting for a Redis known not to answer; the relay enqueues once it does. */
export class RedisStalledError extends Error {
  override readonly name = 'RedisStalledError';
}
