import { Inject, Injectable, type CanActivate, type ExecutionContext, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { PortalActor } from '../interfaces/portal.interface.js';
import type { ResolvedWebhooksOptions } from '../interfaces/webhooks-options.interface.js';
import { WEBHOOKS_OPTIONS } from '../webhooks.constants.js';
import { PortalProblem } from './portal.problem.js';
import { PortalService } from './portal.service.js';

/** Where the guards leave the caller for the controller. */
export const PORTAL_ACTOR = Symbol('webhooks:portal-actor');

/** The header every cookie-authenticated portal request must carry: a cross-site form cannot set it. */
export const PORTAL_HEADER = 'x-webhooks-portal';

type PortalRequest = { headers: Record<string, string | string[] | undefined>; [PORTAL_ACTOR]?: PortalActor };

function header(req: PortalRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Runs one of the app's guards (admin, app-auth) as Nest would, whether or not the app lists it as a provider. */
@Injectable()
export class AppGuardRunner {
  private readonly instances = new Map<Type<CanActivate>, Promise<CanActivate>>();

  constructor(private readonly moduleRef: ModuleRef) {}

  async allows(guard: Type<CanActivate>, context: ExecutionContext): Promise<boolean> {
    let instance = this.instances.get(guard);
    if (!instance) {
      instance = this.resolve(guard);
      this.instances.set(guard, instance);
    }
    const result = (await instance).canActivate(context);
    return typeof result === 'boolean' || result instanceof Promise ? result : firstValue(result);
  }

  private async resolve(guard: Type<CanActivate>): Promise<CanActivate> {
    try {
      return this.moduleRef.get(guard, { strict: false });
    } catch {
      return this.moduleRef.create(guard);
    }
  }
}

/** The first value of a guard's Observable answer (false if it completes without one). */
function firstValue(source: {
  subscribe(o: { next(v: boolean): void; error(e: unknown): void; complete(): void }): { unsubscribe(): void };
}): Promise<boolean> {
  return new Promise((resolve, reject) => {
    // A synchronous source answers inside subscribe(), before its subscription is returned.
    const held: { subscription?: { unsubscribe(): void }; done?: boolean } = {};
    held.subscription = source.subscribe({
      next: (v) => {
        if (held.done) return;
        held.done = true;
        resolve(v);
        held.subscription?.unsubscribe();
      },
      error: reject,
      complete: () => resolve(false),
    });
    if (held.done) held.subscription.unsubscribe();
  });
}

/** The X-Webhooks-Portal check of cookie-borne authority (app-auth mode and the admin API). */
function requirePortalHeader(req: PortalRequest): void {
  if (header(req, PORTAL_HEADER) !== '1') {
    throw new PortalProblem(
      'portal_header_missing',
      'Send the header X-Webhooks-Portal: 1 with every portal API request (it proves the call is not a cross-site form).',
    );
  }
}

/**
 * The customer API's guard: a bearer token of a portal session, or (app-auth mode) the app's own
 * guard and its customer resolver, with the X-Webhooks-Portal header on every request.
 */
@Injectable()
export class PortalSessionGuard implements CanActivate {
  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    private readonly sessions: PortalService,
    private readonly appGuards: AppGuardRunner,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<PortalRequest>();
    const portal = this.options.portal!;
    if (portal.guard) requirePortalHeader(req);
    const auth = header(req, 'authorization');
    if (auth !== undefined && /^bearer\s/i.test(auth)) {
      const actor = await this.sessions.authenticate(auth.replace(/^bearer\s+/i, '').trim());
      if (!actor) throw new PortalProblem('unauthorized', 'The portal token is invalid, expired or revoked.');
      req[PORTAL_ACTOR] = actor;
      return true;
    }
    if (!portal.guard || !portal.customerId) {
      throw new PortalProblem('unauthorized', 'Send the portal token as Authorization: Bearer <token>.');
    }
    if (!(await this.appGuards.allows(portal.guard, context))) {
      throw new PortalProblem('unauthorized', 'The app did not authenticate this request.');
    }
    const customerId = await portal.customerId(req);
    if (typeof customerId !== 'string' || customerId === '') {
      throw new PortalProblem('forbidden', 'The app resolved no customer for this request.');
    }
    req[PORTAL_ACTOR] = { kind: 'portal', customerId, scope: 'manage', expiresAt: null };
    return true;
  }
}

/** The admin API's guard: the app's admin guard, and the X-Webhooks-Portal header (operators use cookies too). */
@Injectable()
export class PortalAdminGuard implements CanActivate {
  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly options: ResolvedWebhooksOptions,
    private readonly appGuards: AppGuardRunner,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<PortalRequest>();
    requirePortalHeader(req);
    if (!(await this.appGuards.allows(this.options.portal!.admin!.guard, context))) {
      throw new PortalProblem('forbidden', 'The app refused this admin request.');
    }
    req[PORTAL_ACTOR] = { kind: 'admin', customerId: null, scope: 'manage', expiresAt: null };
    return true;
  }
}
