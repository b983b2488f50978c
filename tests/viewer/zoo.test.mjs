// The viewer on every model of the zoo (tests/zoo): `tsopt view` writes the page, Chromium opens
// it without a console error, the graph is grouped by submodule, and opening the first closed
// group draws more. One browser for all; times are printed, not judged (bench/ judges speed).
//
// Environment: as viewer.test.mjs, plus TSOPT_ZOO_DIR.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const zoo = env('TSOPT_ZOO_DIR');
const work = env('TSOPT_VIEWER_WORK');
const { chromium } = createRequire(path.resolve(env('TSOPT_VIEWER_PACKAGES'), 'package.json'))(
  'playwright-core');
const models = JSON.parse(fs.readFileSync(path.join(zoo, 'zoo.json'), 'utf8')).map((m) => m.name);

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

for (const name of models) {
  test(name, async () => {
    const file = path.join(work, name + '.html');
    execFileSync(env('TSOPT_CLI'), ['view', path.join(zoo, name + '.pt'), '-o', file, '-q'],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    const errors = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto('file://' + file);
    await page.waitForSelector('.tsopt-viewer[data-ready=yes]', { timeout: 60000 });
    const state = () => page.$eval('.tv-pane', (p) => ({
      nodes: Number(p.dataset.visibleNodes),
      groups: Number(p.dataset.visibleGroups),
      closed: [...p.querySelectorAll('.tv-group.closed')].map((g) => g.dataset.key),
    }));
    const first = await state();
    const groups = await page.$eval('.tsopt-viewer', (v) =>
      JSON.parse(document.getElementById(v.dataset.source).textContent).stages[0].graph.groups
        .filter((g) => g.kind === 'module').length);
    assert.ok(groups >= 2, `${groups} submodule groups`);
    assert.ok(first.nodes + first.groups > 0);
    assert.ok(first.closed.length > 0, 'something to open');
    // Clicked where it is, even outside the view (a tall model's first view shows its top).
    await page.$eval(`.tv-group.closed[data-key="${first.closed[0]}"]`,
      (g) => g.dispatchEvent(new MouseEvent('click', { bubbles: true })));
    const opened = await state();
    assert.ok(opened.nodes + opened.groups > first.nodes + first.groups - 1,
      `${JSON.stringify(first)} -> ${JSON.stringify(opened)}`);
    assert.ok(!opened.closed.includes(first.closed[0]));
    const ms = await page.$eval('.tsopt-viewer', (v) => v.dataset.openMs);
    console.log(`${name}: ${groups} module groups, opened in ${ms} ms`);
    assert.deepEqual(errors, []);
    await page.close();
  });
}
