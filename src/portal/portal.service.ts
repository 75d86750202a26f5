import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash, randomBytes } from 'node:crypto';
import { IsNull, type DataSource } from 'typeorm';
import { WebhookPortalSession } from '../database/entities/webhook-portal-session.entity.js';
import { newId } from '../database/ids.js';
import { requiredObject } from '../database/pagination.js';
import { TransactionRunner } from '../database/transaction.runner.js';
import { unstorable } from '../database/sql.js';
import { validateKey } from '../outbound/endpoint.validation.js';
import { WebhookValidationError } from '../errors/webhook-validation.error.js';
import type { CreatePortalSessionInput, PortalActor, PortalSessionLink } from '../interfaces/portal.interface.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { constantTimeEqual } from '../signing/constant-time.js';
import { MAX_SESSION_TTL_MS, WEBHOOKS_OPTIONS } from '../webhooks.constants.js';
import { messages } from '../webhooks.messages.js';

const hash = (secret: string) => createHash('sha256').update(secret).digest('hex');

/**
 * Portal sessions: magic links for one customer, `read` or `manage`, expiring and revocable.
 * A token is `<session id>.<secret>`; only the secret's SHA-256 is stored, and it is compared in
 * constant time, so a database leak hands out no working link.
 * @publicApi
 */
@Injectable()
export class PortalService {
  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly tx: TransactionRunner,
  ) {}

  /**
   * Creates a session and its magic link.
   * @example
   * ```ts
   * const { url } = await portal.createSession({ customerId: org.id, scope: 'manage', expiresIn: 3_600_000 });
   * ```
   */
  async createSession(input: CreatePortalSessionInput): Promise<PortalSessionLink> {
    const {
      customerId,
      scope = 'read',
      expiresIn,
    } = requiredObject('input', input, ['customerId', 'scope', 'expiresIn']);
    // The same rule as send()'s and endpoints' customerId, which the session is matched against.
    if (validateKey('customerId', customerId) === null)
      throw new WebhookValidationError('customerId', messages.invalidCustomerId(customerId));
    if (scope !== 'read' && scope !== 'manage')
      throw new WebhookValidationError('scope', `scope must be 'read' or 'manage'.`);
    const ttl = expiresIn === undefined ? this.portal.sessionTtlMs : expiresIn;
    // Bounded so the expiry is a date every database keeps (a Date ends 275,760 years from 1970).
    if (ttl !== null && !(Number.isSafeInteger(ttl) && ttl > 0 && ttl <= MAX_SESSION_TTL_MS))
      throw new WebhookValidationError(
        'expiresIn',
        `expiresIn must be a positive number of milliseconds, at most ${MAX_SESSION_TTL_MS} (100 years), or null (no expiry).`,
      );
    const now = Date.now();
    const id = newId('ps', now);
    const secret = randomBytes(32).toString('base64url');
    const expiresAt = ttl === null ? null : new Date(now + ttl);
    const row = {
      id,
      customerId,
      tokenHash: hash(secret),
      scope,
      expiresAt,
      revokedAt: null,
      createdAt: new Date(now),
    };
    await this.tx.write((m) => m.insert(WebhookPortalSession, row));
    const token = `${id}.${secret}`;
    const { baseUrl, path } = this.portal;
    return { id, token, url: `${baseUrl}/${path}#token=${token}`, expiresAt };
  }

  /** Revokes a session: its token stops working at once. Resolves to false when it was unknown or already revoked. */
  async revokeSession(id: string): Promise<boolean> {
    // No session has such an id; PostgreSQL would refuse a U+0000 (or match a lone surrogate as U+FFFD).
    if (typeof id !== 'string' || unstorable(id)) return false;
    const result = await this.tx.write((m) =>
      m.update(WebhookPortalSession, { id, revokedAt: IsNull() }, { revokedAt: new Date() }),
    );
    return (result.affected ?? 0) > 0;
  }

  /** The actor of a token, or null when it is malformed, unknown, tampered with, expired or revoked. */
  async authenticate(token: string): Promise<PortalActor | null> {
    if (typeof token !== 'string') return null;
    const dot = token.lastIndexOf('.');
    if (dot <= 0 || token.length > 200) return null;
    const id = token.slice(0, dot);
    const row = await this.dataSource.getRepository(WebhookPortalSession).findOne({
      select: { id: true, customerId: true, tokenHash: true, scope: true, expiresAt: true, revokedAt: true },
      where: { id },
    });
    if (!row || !constantTimeEqual(hash(token.slice(dot + 1)), row.tokenHash)) return null;
    if (row.revokedAt !== null) return null;
    if (row.expiresAt !== null && row.expiresAt.getTime() <= Date.now()) return null;
    return {
      kind: 'portal',
      customerId: row.customerId,
      scope: row.scope,
      sessionId: row.id,
      expiresAt: row.expiresAt,
    };
  }

  private get portal() {
    if (!this.options.portal) throw new Error('PortalService is provided only with the portal option.');
    return this.options.portal;
  }
}
