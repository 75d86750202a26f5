/** The inbox could not be read or written (connection lost, database locked, table missing). */
export class InboxUnavailableError extends Error {
  override readonly name = 'InboxUnavailableError';
}
