import { describe, expect, it } from '@jest/globals';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The compiler's errors for one fixture project: none means every `@ts-expect-error` was an error and nothing else was. */
function errorsOf(project: string): string[] {
  const path = fileURLToPath(new URL(project, import.meta.url));
  const config = ts.getParsedCommandLineOfConfigFile(
    path,
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  )!;
  const program = ts.createProgram({ rootNames: config.fileNames, options: config.options });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const at = d.file
      ? `${d.file.fileName.replace(dirname(path), '')}:${d.file.getLineAndCharacterOfPosition(d.start!).line + 1}`
      : '';
    return `${at} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}

describe('the declared event-type map (compile time)', () => {
  it('types send() payloads and @OnWebhook handlers of declared types, and leaves undeclared ones open', () => {
    expect(errorsOf('../fixtures/types/tsconfig.json')).toEqual([]);
  }, 60_000);

  it('refuses undeclared types when WebhookEventTypesConfig says strict', () => {
    expect(errorsOf('../fixtures/types/strict/tsconfig.json')).toEqual([]);
  }, 60_000);
});
