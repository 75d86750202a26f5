/**
 * A source's own code failed on a call: its verifier's `verify()` threw or returned something other
 * than a {@link VerifyResult}, or its `eventType()` / `eventId()` threw. A server fault, answered
 * 500 `verifier_failed` (the sender retries) and logged with this message; nothing is stored.
 */
export class VerifierFault extends Error {
  override readonly name = 'VerifierFault';
}
