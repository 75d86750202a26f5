import {
  Body,
  Controller,
  Delete,
  Get,
  Header,
  HttpCode,
  Param,
  Patch,
  Post,
  Query,
  Req,
  UseFilters,
  UseGuards,
  VERSION_NEUTRAL,
  type Type,
} from '@nestjs/common';
import { unstorable } from '../database/sql.js';
import type { PortalActor } from '../interfaces/portal.interface.js';
import { isoDate, PortalApi, type PortalEndpointInput } from './portal-api.service.js';
import { PORTAL_ACTOR, PortalAdminGuard, PortalSessionGuard } from './portal.guard.js';
import { notAnObject, PortalProblem } from './portal.problem.js';
import { PortalProblemFilter } from './portal-problem.filter.js';
import type { MessageFilters, PageArgs, PortalScope } from './portal.store.js';

type Req = { [PORTAL_ACTOR]: PortalActor };
type Query = Record<string, unknown>;

const STATUSES = ['pending', 'succeeded', 'failed'];

/** Paging from the query: `limit` in decimal digits (else NaN, which the page check refuses), `cursor` once. */
function page(q: Query): PageArgs {
  const limit = optionalString(q, 'limit');
  return {
    limit: limit === undefined ? undefined : /^[0-9]+$/.test(limit) ? Number(limit) : Number.NaN,
    cursor: optionalString(q, 'cursor'),
  };
}

function optionalString(q: Query, key: string): string | undefined {
  const v = q[key];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw new PortalProblem('invalid_input', `${key} must be given once, as text.`);
  if (unstorable(v)) throw new PortalProblem('invalid_input', `${key} must not contain U+0000 or unpaired surrogates.`);
  return v;
}

function optionalDate(q: Query, key: string): Date | undefined {
  const v = optionalString(q, key);
  return v === undefined ? undefined : isoDate(key, v);
}

function filters(q: Query): MessageFilters {
  const status = optionalString(q, 'status');
  if (status !== undefined && !STATUSES.includes(status))
    throw new PortalProblem('invalid_input', `status must be one of ${STATUSES.join(', ')}.`);
  return {
    eventType: optionalString(q, 'eventType'),
    status: status as MessageFilters['status'],
    since: optionalDate(q, 'since'),
    until: optionalDate(q, 'until'),
    endpointId: optionalString(q, 'endpointId'),
  };
}

function body(b: unknown): Record<string, unknown> {
  // No body at all (a bodiless POST): a body of another type than JSON never gets here (PortalBodyRefusals).
  if (b === undefined) return {};
  if (b === null || typeof b !== 'object' || Array.isArray(b)) throw notAnObject();
  return b as Record<string, unknown>;
}

/**
 * The portal API under `/<path>/api` (one customer per session), or, with `admin`, the same
 * routes under `/<path>/admin/api` across customers (lists filter by `?customerId=`). The routes
 * are thin: {@link PortalApi} scopes and acts.
 */
export function createPortalApiController(path: string, admin: boolean): Type<unknown> {
  /** A list's scope: the session's customer, or the admin's `customerId` filter (all when absent). */
  const listScope = (actor: PortalActor, q: Query): PortalScope =>
    admin ? { customerId: optionalString(q, 'customerId') ?? null } : actor;

  @Controller({ path: admin ? `${path}/admin/api` : `${path}/api`, version: VERSION_NEUTRAL })
  @UseGuards(admin ? PortalAdminGuard : PortalSessionGuard)
  @UseFilters(PortalProblemFilter)
  class PortalApiController {
    constructor(private readonly api: PortalApi) {}

    @Get('session')
    @Header('Cache-Control', 'no-store')
    session(@Req() req: Req) {
      return this.api.session(req[PORTAL_ACTOR]);
    }

    @Get('event-types')
    eventTypes() {
      return this.api.eventTypes();
    }

    @Get('endpoints')
    listEndpoints(@Req() req: Req, @Query() q: Query) {
      return this.api.listEndpoints(listScope(req[PORTAL_ACTOR], q), page(q));
    }

    @Post('endpoints')
    @HttpCode(201)
    createEndpoint(@Req() req: Req, @Body() b: unknown) {
      return this.api.createEndpoint(req[PORTAL_ACTOR], body(b) as PortalEndpointInput);
    }

    @Get('endpoints/:id')
    getEndpoint(@Req() req: Req, @Param('id') id: string) {
      return this.api.getEndpoint(req[PORTAL_ACTOR], id);
    }

    @Patch('endpoints/:id')
    updateEndpoint(@Req() req: Req, @Param('id') id: string, @Body() b: unknown) {
      const { customerId: _ignored, ...patch } = body(b) as PortalEndpointInput;
      return this.api.updateEndpoint(req[PORTAL_ACTOR], id, patch);
    }

    @Delete('endpoints/:id')
    @HttpCode(204)
    deleteEndpoint(@Req() req: Req, @Param('id') id: string) {
      return this.api.deleteEndpoint(req[PORTAL_ACTOR], id);
    }

    @Post('endpoints/:id/secret/reveal')
    @HttpCode(200)
    @Header('Cache-Control', 'no-store')
    revealSecret(@Req() req: Req, @Param('id') id: string) {
      return this.api.revealSecret(req[PORTAL_ACTOR], id);
    }

    @Post('endpoints/:id/secret/rotate')
    @HttpCode(200)
    @Header('Cache-Control', 'no-store')
    rotateSecret(@Req() req: Req, @Param('id') id: string, @Body() b: unknown) {
      return this.api.rotateSecret(req[PORTAL_ACTOR], id, body(b).graceMs);
    }

    @Post('endpoints/:id/test')
    @HttpCode(202)
    sendTest(@Req() req: Req, @Param('id') id: string, @Body() b: unknown) {
      const { eventType, payload } = body(b);
      return this.api.sendTest(req[PORTAL_ACTOR], id, eventType, payload);
    }

    @Post('endpoints/:id/recover')
    @HttpCode(200)
    recover(@Req() req: Req, @Param('id') id: string, @Body() b: unknown) {
      return this.api.recover(req[PORTAL_ACTOR], id, body(b).since);
    }

    @Post('endpoints/:id/replay-missing')
    @HttpCode(200)
    replayMissing(@Req() req: Req, @Param('id') id: string, @Body() b: unknown) {
      const { since, until } = body(b);
      return this.api.replayMissing(req[PORTAL_ACTOR], id, since, until);
    }

    @Get('endpoints/:id/stats')
    stats(@Req() req: Req, @Param('id') id: string, @Query('window') window: unknown) {
      return this.api.stats(req[PORTAL_ACTOR], id, window);
    }

    @Get('messages')
    listMessages(@Req() req: Req, @Query() q: Query) {
      return this.api.listMessages(listScope(req[PORTAL_ACTOR], q), filters(q), page(q));
    }

    @Get('messages/:id')
    getMessage(@Req() req: Req, @Param('id') id: string) {
      return this.api.getMessage(req[PORTAL_ACTOR], id);
    }

    @Get('deliveries/:id')
    getDelivery(@Req() req: Req, @Param('id') id: string) {
      return this.api.getDelivery(req[PORTAL_ACTOR], id);
    }

    @Post('deliveries/:id/replay')
    @HttpCode(200)
    replayDelivery(@Req() req: Req, @Param('id') id: string) {
      return this.api.replayDelivery(req[PORTAL_ACTOR], id);
    }
  }
  return PortalApiController;
}
