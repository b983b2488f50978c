// The viewer on every model of the zoo (tests/zoo): `tsopt view` writes the page, Chromium opens
// it without a console error, the graph is grouped by submodule, and opening the first closed
// group draws more. One browser for all; times are printed, not judged (bench/ judges speed).
//
// Environment: TSOPT_CLI, TSOPT_ZOO_DIR, and browser.mjs's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { env, open, pageData, paneState, work } from './browser.mjs';

const zoo = env('TSOPT_ZOO_DIR');
const models = JSON.parse(fs.readFileSync(path.join(zoo, 'zoo.json'), 'utf8')).map((m) => m.name);

for (const name of models) {
  test(name, async () => {
    const file = path.join(work, name + '.html');
    execFileSync(env('TSOPT_CLI'), ['view', path.join(zoo, name + '.pt'), '-o', file, '-q'],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    const { page, errors } = await open(file, { width: 1200, height: 800 });
    const state = async () => (await paneState(page))[0];
    const first = await state();
    const groups = pageData(file).stages[0].graph.groups.filter((g) => g.kind === 'module').length;
    assert.ok(groups >= 2, `${groups} submodule groups`);
    assert.ok(first.nodes + first.groups > 0);
    assert.ok(first.closed.length > 0, 'something to open');
    // Clicked where it is, even outside the view (a tall model's first view shows its top).
    await page.$eval(`.tv-group.closed[data-key="${first.closed[0]}"]`,
      (g) => g.dispatchEvent(new MouseEvent('click', { bubbles: true })));
    const opened = await state();
    assert.ok(opened.nodes + opened.groups > first.nodes + first.groups,
      `${JSON.stringify(first)} -> ${JSON.stringify(opened)}`);
    assert.ok(!opened.closed.includes(first.closed[0]));
    const ms = await page.$eval('.tsopt-viewer', (v) => v.dataset.openMs);
    console.log(`${name}: ${groups} module groups, opened in ${ms} ms`);
    assert.deepEqual(errors, []);
    await page.close();
  });
}
