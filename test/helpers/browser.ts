import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';

/**
 * Debian's Chromium (`apt-get install chromium`) driven headless by playwright-core; playwright's own
 * browser download does not work on our machines. `.ci/run` installs the package when it is missing.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Whether the browser suites can run. Without Chromium they are skipped on a developer's machine and
 * fail in CI (CI=true), so a missing browser never passes silently where it matters.
 */
export function chromiumAvailable(): boolean {
  const found = fs.existsSync(CHROMIUM_PATH);
  if (!found && process.env.CI) throw new Error(`Chromium is not at ${CHROMIUM_PATH}; .ci/run installs it (apt-get install chromium)`);
  return found;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    // The machine's network is closed: background services would only fail their lookups.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A page in a fresh context; waits give up after 10 s, so a missing element fails fast with its locator. */
export async function openPage(browser: Browser, options: BrowserContextOptions = {}): Promise<Page> {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  return page;
}

/** Screenshots go to ./screenshots (git-ignored) for a person to look at. */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = path.resolve('screenshots');
  fs.mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}
