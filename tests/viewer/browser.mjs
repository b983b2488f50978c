// What the viewer's browser tests share: their environment, one Chromium per test file (started
// in `before`, closed in `after`), opening a page and collecting what goes wrong in it.
//
// Environment: TSOPT_VIEWER_PACKAGES (the folder of ir_dump/viewer/package.json, whose
// node_modules hold playwright-core), TSOPT_VIEWER_WORK (a folder for pages and screenshots,
// emptied first), TSOPT_CHROMIUM (default /usr/bin/chromium).
import { before, after } from 'node:test';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

export const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
export const work = env('TSOPT_VIEWER_WORK');
const { chromium } = createRequire(path.resolve(env('TSOPT_VIEWER_PACKAGES'), 'package.json'))(
  'playwright-core');

let browser;
before(async () => {
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.TSOPT_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'],
  });
});
after(async () => browser && browser.close());

/// The data of a page tsopt wrote, as its viewer reads it.
export function pageData(file) {
  const html = fs.readFileSync(file, 'utf8');
  const m = html.match(/<script type="application\/json" id="[^"]*-data">(.*?)<\/script>/s);
  return JSON.parse(m[1]);
}

/// Opens a page once its viewer is ready; `errors` collects the console's errors, the page's
/// uncaught exceptions and any request for something outside the page.
export async function open(file, viewport = { width: 1400, height: 900 }) {
  const page = await browser.newPage({ viewport });
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => !r.url().startsWith('file:') && errors.push('fetched ' + r.url()));
  await page.goto('file://' + file);
  await page.waitForSelector('.tsopt-viewer[data-ready=yes]', { timeout: 60000 });
  return { page, errors };
}

/// What each pane draws now: its counts (the viewer's own), node kinds, closed and open groups.
export const paneState = (page) => page.$$eval('.tv-pane', (panes) => panes.map((p) => ({
  nodes: Number(p.dataset.visibleNodes),
  groups: Number(p.dataset.visibleGroups),
  kinds: [...p.querySelectorAll('.tv-node text.title')].map((t) => t.textContent),
  closed: [...p.querySelectorAll('.tv-group.closed')].map((g) => g.dataset.key),
  open: [...p.querySelectorAll('.tv-group.open')].map((g) => g.dataset.key),
})));
