import { describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import * as root from '../../src/index.js';
import * as testing from '../../src/testing/index.js';

// The package's public surface: a name added here is a promise to users (docs/configuration.md, Public API).
const VALUES = [
  'DEFAULT_SCHEDULE',
  'EmitsWebhook',
  'OnWebhook',
  'PortalService',
  'WEBHOOK_ENTITIES',
  'WEBHOOK_MIGRATIONS',
  'WebhookAttempt',
  'WebhookDelivery',
  'WebhookEndpoint',
  'WebhookEvents',
  'WebhookInbox',
  'WebhookInboxEntry',
  'WebhookInboxError',
  'WebhookMessage',
  'WebhookNotFoundError',
  'WebhookPortalSession',
  'WebhookService',
  'WebhookSubscriber',
  'WebhookValidationError',
  'WebhooksConfigError',
  'WebhooksModule',
  'constantTimeEqual',
  'generateSecret',
  'isWebhookRoute',
  'signStandard',
  'verifyStandardSignature',
  'webhookReply',
];
const TYPES = [
  'AttemptErrorClass',
  'BuiltInScheme',
  'CreateEndpointInput',
  'CreatePortalSessionInput',
  'DeliveryStatus',
  'EmitsWebhookOptions',
  'EntityChange',
  'EventTypeDefinition',
  'InboundOptions',
  'InboundSourceOptions',
  'InboxReplay',
  'InboxStatus',
  'ListDeliveriesOptions',
  'ListEndpointsOptions',
  'ListInboxOptions',
  'ListMessagesOptions',
  'NetworkPolicyOptions',
  'OnWebhookOptions',
  'OutboundOptions',
  'Page',
  'PageOptions',
  'PortalAction',
  'PortalActor',
  'PortalOptions',
  'PortalProblemCode',
  'PortalScope',
  'PortalSessionLink',
  'PortalThemeOptions',
  'RecoverFailedOptions',
  'ReplayMissingOptions',
  'SendOptions',
  'SendResult',
  'UpdateEndpointInput',
  'VerifyFailure',
  'VerifyInput',
  'VerifyResult',
  'WebhookContext',
  'WebhookEventMap',
  'WebhookEventName',
  'WebhookEventTypes',
  'WebhookEventTypesConfig',
  'WebhookHandlerFn',
  'WebhookInboxErrorCode',
  'WebhookPayload',
  'WebhookProblemCode',
  'WebhookReply',
  'WebhookReplyOptions',
  'WebhookVerifier',
  'WebhooksModuleExtras',
  'WebhooksModuleOptions',
  'WebhooksRole',
];
const TESTING = ['PostWebhookOptions', 'SignWebhookOptions', 'SignedWebhook', 'postWebhook', 'signWebhook'];

/** Every name an entry point exports (values and types), with whether its declaration says `@publicApi`. */
function exportsOf(entry: string): Map<string, boolean> {
  const file = fileURLToPath(new URL(entry, import.meta.url));
  const options = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, noEmit: true };
  const program = ts.createProgram([file], options);
  const checker = program.getTypeChecker();
  const out = new Map<string, boolean>();
  for (const symbol of checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(file)!)!)) {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    const marked = (target.declarations ?? []).some((d) => {
      const node = ts.isVariableDeclaration(d) ? d.parent.parent : d;
      return ts.getJSDocTags(node).some((tag) => tag.tagName.text === 'publicApi');
    });
    out.set(symbol.name, marked);
  }
  return out;
}

describe('public API', () => {
  it('the package root exports exactly the curated values', () => {
    expect(Object.keys(root).sort()).toEqual([...VALUES].sort());
  });

  it('keeps internals out of the package root', () => {
    const internals = ['resolveWebhooksOptions', 'WEBHOOKS_OPTIONS', 'WEBHOOKS_QUEUE', 'PRUNE_BATCH', 'PROBLEMS'];
    for (const name of internals) expect(Object.keys(root)).not.toContain(name);
  });

  it('the testing entry keeps the test kit', () => {
    expect(Object.keys(testing).sort()).toEqual(['postWebhook', 'signWebhook']);
  });

  it('marks every exported name, values and types, @publicApi where it is declared', () => {
    const rootNames = exportsOf('../../src/index.ts');
    expect([...rootNames.keys()].sort()).toEqual([...VALUES, ...TYPES].sort());
    const testingNames = exportsOf('../../src/testing/index.ts');
    expect([...testingNames.keys()].sort()).toEqual([...TESTING].sort());
    const unmarked = [...rootNames, ...testingNames].filter(([, marked]) => !marked).map(([name]) => name);
    expect(unmarked).toEqual([]);
  });
});
