/**
 * The database refused the values themselves (a data or constraint error), while it is reachable:
 * the same write would fail again, so this is not answered as an unavailable inbox.
 */
export class InboxDataError extends Error {
  override readonly name = 'InboxDataError';
}
