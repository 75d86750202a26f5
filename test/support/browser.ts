import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's chromium package; `.ci/run` installs it when missing. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Browser specs run when Chromium is installed, and always in CI (where a missing browser must
 * fail the run, not skip it). Locally without Chromium they skip and say why.
 */
export function browserAvailable(): boolean {
  if (existsSync(CHROMIUM) || process.env.CI) return true;
  console.warn(`Browser specs skipped: ${CHROMIUM} is missing (apt-get install -y chromium; CI installs it).`);
  return false;
}

/** A headless Chromium with a fresh profile; `close()` removes the profile. */
export async function launchBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'webhooks-chromium-'));
  // The flags keep Chromium from calling home (this network refuses it, and tests must not wait on it).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1200, height: 900 },
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
