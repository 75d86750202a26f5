import type { Provider, Type } from '@nestjs/common';
import type { ResolvedPortalOptions } from '../interfaces/portal-options.interface.js';
import { PortalApi } from './portal-api.service.js';
import { PortalBodyRefusals } from './portal-body-refusals.js';
import { createPortalApiController } from './portal-api.controller.js';
import { AppGuardRunner, PortalAdminGuard, PortalSessionGuard } from './portal.guard.js';
import { createPortalPageController } from './portal-page.controller.js';
import { PortalProblemFilter } from './portal-problem.filter.js';
import { PortalService } from './portal.service.js';
import { PortalStore } from './portal.store.js';

/** The portal's providers, registered by the module only when `portal` is configured. */
export const PORTAL_PROVIDERS: Provider[] = [
  PortalService,
  PortalStore,
  PortalApi,
  AppGuardRunner,
  PortalSessionGuard,
  PortalAdminGuard,
  PortalProblemFilter,
  PortalBodyRefusals,
];

/** The page, the customer API and (with `admin`) the admin API, at the portal's path. */
export function createPortalControllers(portal: ResolvedPortalOptions): Type<unknown>[] {
  const controllers = [createPortalPageController(portal.path), createPortalApiController(portal.path, false)];
  if (portal.admin) controllers.push(createPortalApiController(portal.path, true));
  return controllers;
}
