import { shown } from './utils/shown.js';
import { didYouMean } from './utils/known-keys.js';
import { MAX_TIMER_MS } from './utils/settle.js';
/** User-facing text, as small factories that the tests import. */
export const messages = {
  invalidOption: (path: string, allowed: string, got: unknown) =>
    `WebhooksModule: option "${path}" must be ${allowed} (got ${shown(got)}).`,
  unknownOption: (path: string, suggestion: string | undefined, known: string[]) =>
    `WebhooksModule: unknown option "${path}"${didYouMean(suggestion)}. Options at this level: ${known.join(', ')}.`,
  timerRange: (min: number) =>
    `an integer from ${min} to ${MAX_TIMER_MS} ms (about 24.8 days, the longest a Node timer waits; longer ones fire after 1 ms)`,
  healthThreshold: (name: string, value: unknown, allowed: string) =>
    `WebhooksHealthIndicator: threshold "${name}" must be ${allowed} (got ${shown(value)}); see docs/operations.md.`,
  inboundPathInForRoot: () =>
    'WebhooksModule: "inboundPath" is for forRootAsync (where routes are fixed before the options resolve); ' +
    'with forRoot, set "inbound.path".',
  inboundPathMismatch: (path: string, route: string) =>
    `WebhooksModule: "inbound.path" is "${path}" but the route is "/${route}/:source": with forRootAsync the route comes ` +
    `from "inboundPath" beside the factory. Set inboundPath: '${path}' there (or leave inbound.path out).`,
  extraInFactoryResult: (extra: string) =>
    `WebhooksModule: "${extra}" was returned by the forRootAsync factory, where it is ignored: ` +
    `give it beside useFactory / useClass / useExisting instead.`,
  optionNotForScheme: (path: string, rule: string, scheme: string) =>
    `WebhooksModule: option "${path}" ${rule}; this source uses ${scheme}. Remove it.`,
  invalidEventType: (type: unknown) =>
    `Event type ${shown(type)} is invalid: use dot-delimited segments of [A-Za-z0-9_-], such as "order.completed".`,
  payloadNotSerialisable: (why: string) => `Webhook data must be JSON-serialisable: ${why}.`,
  payloadTooLarge: (bytes: number, max: number) =>
    `Webhook data is ${bytes} bytes once serialised; the limit is ${max} (outbound.maxPayloadBytes).`,
  addressRefused: (address: string, why: string) =>
    `${address} is refused (${why}); to allow it, add '${address}${address.includes(':') ? '/128' : '/32'}' to outbound.network.allow`,
  hostRefused: (host: string, address: string, why: string) =>
    `${host} resolves to ${address}, which is refused (${why}); to allow this host, add '${host}' to outbound.network.allow`,
  redisAway: (address: string, status: string, lastError: string | null) =>
    `Redis at ${address} is ${status}${lastError ? ` (${lastError})` : ''}`,
  invalidUrl: (url: unknown, why: string) => `Endpoint url ${shown(url)} is invalid: ${why}.`,
  invalidFilter: (filter: unknown) =>
    `Event type filter ${shown(filter)} is invalid: use an exact type, "prefix.*" or "*".`,
  reservedHeader: (name: string) => `Header "${name}" is set by the module on every request and cannot be overridden.`,
  connectionHeader: (name: string) =>
    `Header "${name}" belongs to the HTTP connection, which the HTTP client manages; it refuses to send it, so an endpoint cannot carry it.`,
  invalidHeader: (name: string) =>
    `Header ${shown(name)} is not a valid HTTP header name or value (a value holds tab, space, visible ASCII and U+0080-U+00FF only).`,
  headerTwice: (name: string) => `Header ${shown(name)} is given twice (header names are case-insensitive).`,
  headersTooLarge: (count: number, bytes: number) =>
    `Custom headers are limited to ${count} headers and ${bytes} bytes of names and values (receivers refuse larger requests).`,
  invalidSecret: () => 'Endpoint secret must be "whsec_" followed by base64 of 24 to 64 bytes.',
  invalidCustomerId: (id: unknown) =>
    `customerId ${shown(id)} must be a non-empty string of at most 255 characters, without U+0000 or unpaired surrogates.`,
  invalidIdempotencyKey: (key: unknown) =>
    `idempotencyKey ${shown(key)} must be a non-empty string of at most 255 characters, without U+0000 or unpaired surrogates.`,
  invalidDescription: () => 'description must be a string without U+0000 or unpaired surrogates, or null.',
  portalAppAuthHalf: () =>
    'WebhooksModule: "portal.guard" and "portal.customerId" go together (app-auth mode): give both, or neither ' +
    'to use portal sessions (PortalService.createSession) only.',
  portalAdminWithoutGuard: () =>
    'WebhooksModule: "portal.admin" needs a guard ({ admin: { guard: YourAdminGuard } }): the admin API reads and ' +
    'changes every customer\'s webhooks and is never mounted unguarded. Remove "portal.admin" to leave it off.',
  portalInForRootAsync: () =>
    'WebhooksModule: "portal" is read by forRoot only (its routes are fixed before forRootAsync\'s factory runs). ' +
    'Use WebhooksModule.forRoot to mount the portal.',
  unknownEventType: (type: string) =>
    `Event type "${type}" is not in the eventTypes catalog, and strictEventTypes is on: add it to eventTypes.`,
  portalUiMissing: (dir: string) =>
    `The portal page is not built (no index.html in ${dir}). Run \`npm run build:portal\` in the nestjs-webhooks package.`,
  notFound: (kind: string, id: unknown) => `No webhook ${kind} with id ${shown(id)}.`,
  evictingRedis: (policy: string) =>
    `Redis maxmemory-policy is "${policy}": under memory pressure Redis may evict queued deliveries. ` +
    'Set it to "noeviction" (CONFIG SET maxmemory-policy noeviction, or in redis.conf).',
  dataSourceClosed: () =>
    "WebhooksModule: the app's DataSource is not initialized (the app has shut down, or closed it): " +
    'the module cannot read or write its tables. Call it while the app runs.',
  sqliteTransactionOpen: (ms: number) =>
    `WebhooksModule: a transaction has been open on the shared SQLite connection for ${ms} ms, and the module's ` +
    'write waits for it to end. If this call runs inside your own transaction (dataSource.transaction(async (m) => ' +
    "{ await webhooks.send(...) })), pass that transaction's manager: send(type, data, { manager: m }); call " +
    'the other WebhookService methods after it commits. Otherwise keep transactions shorter, or raise sqliteWaitMs.',
  migrationsMissing: (table: string) =>
    `WebhooksModule: table "${table}" does not exist. Add WEBHOOK_MIGRATIONS to your DataSource's ` +
    '"migrations" and run them (migrationsRun: true, or the typeorm CLI) before starting the app.',
  columnMissing: (table: string, column: string, migration: string) =>
    `WebhooksModule: column "${column}" of table "${table}" does not exist: migration ${migration} of WEBHOOK_MIGRATIONS ` +
    'has not run. Run them (migrationsRun: true, or the typeorm CLI) before starting the app.',
  schemaNotOnPath: (schema: string) =>
    `WebhooksModule: its tables are in schema "${schema}", which is not on the connection's search_path: ` +
    "the module's own SQL names them without a schema. Put it there, e.g. extra: { options: '-c search_path=" +
    `${schema},public' } in the DataSource options, or ALTER ROLE … SET search_path.`,
  redisNotAnswering: (address: string) =>
    `WebhooksModule: Redis at ${address} does not answer: sends are kept in the database and delivered once it ` +
    'does (the relay enqueues them). Check that Redis runs, and the BullModule connection options.',
  optionsUnresolved: () =>
    'WebhooksModule: its options could not be built, so neither was its queue: a provider they need is missing. ' +
    'They need the DataSource of TypeOrmModule.forRoot (or forRootAsync) imported in your app, and, with ' +
    "WebhooksModule.forRootAsync, what its factory injects. Nest's own error names the missing provider.",
  entitiesMissing: (names: string[]) =>
    `WebhooksModule: the DataSource does not know the module's entities (${names.join(', ')}). ` +
    'Set autoLoadEntities: true in TypeOrmModule.forRoot, or add WEBHOOK_ENTITIES to its "entities".',
  entityChangedOutsideTransaction: (entity: string, change: 'insert' | 'update' | 'remove' | 'softRemove') =>
    `${entity} was ${{ insert: 'inserted', update: 'updated', remove: 'removed', softRemove: 'soft-removed' }[change]} ` +
    `outside a transaction (${change === 'insert' ? 'insert(), a QueryBuilder insert, or ' : ''}` +
    `${{ insert: 'save', update: 'save', remove: 'remove', softRemove: 'softRemove' }[change]}() with { transaction: false }): ` +
    'the row was committed before its webhook was written, so a failing send or a crash between the two leaves it ' +
    `without one. ${change === 'insert' ? 'Use save(), or run the insert' : 'Leave transaction: false out, or run it'} ` +
    'in manager.transaction(). (Said once per entity.)',
  entityCallbackThrew: (declaration: string, callback: string, error: unknown) =>
    `${declaration}: ${callback}() threw: ${error instanceof Error ? error.message : shown(error)}`,
  declaredTypeNotInCatalog: (entity: string, declaration: string, type: string) =>
    `WebhooksModule: entity ${entity} declares ${declaration}, but "${type}" is not in the eventTypes catalog, and ` +
    `strictEventTypes is on, so every such change of ${entity} would fail. Add { name: '${type}' } to eventTypes, ` +
    'or correct the type in the decorator.',
};
