// The viewer in a real browser: playwright-core drives Debian's chromium over pages that
// `tsopt view` and `tsopt run --html` write, for a small scripted model with control flow, a
// generated model of about 20,000 nodes, and a run's before and after. Each test checks what is
// shown after opening, expanding and collapsing a group, searching and selecting, that the
// console stays free of errors, and keeps a screenshot of each state (docs/dumps.md shows them).
//
// Environment: TSOPT_CLI, TSOPT_PYTHON, TSOPT_FIXTURE_DIR, and browser.mjs's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { env, open, pageData, paneState, work } from './browser.mjs';

const cli = env('TSOPT_CLI');
const fixtures = env('TSOPT_FIXTURE_DIR');
const tsopt = (...args) => execFileSync(cli, args, { encoding: 'utf8' });
const shots = path.join(work, 'screenshots');
const shot = (page, name) => {
  fs.mkdirSync(shots, { recursive: true });
  return page.screenshot({ path: path.join(shots, name + '.png') });
};

test('a small scripted model: blocks of if and loop open and close, search, details', async () => {
  const file = path.join(work, 'control_flow.html');
  tsopt('view', path.join(fixtures, 'control_flow.scripted.pt'), '-o', file, '-q');
  const graph = pageData(file).stages[0].graph;
  const { page, errors } = await open(file);
  await shot(page, 'small-open');

  // First view: the top level, with the blocks of its if and loop closed.
  let [pane] = await paneState(page);
  const top = graph.nodes.filter((n) => n.g === 0).map((n) => n.kind);
  assert.deepEqual(pane.kinds.sort(), [...top].sort());
  const blocks = graph.groups.filter((g) => g.parent === 0).map((g) => g.key);
  assert.deepEqual(pane.closed.sort(), [...blocks].sort());
  assert.ok(top.includes('prim::If') && top.includes('prim::Loop'));

  // A drag that starts and ends on the loop's block moves the view and opens nothing.
  const loop = graph.groups.find((g) => g.parent === 0 && g.type === 'prim::Loop');
  const transform = () => page.$eval('.tv-svg > g', (g) => g.getAttribute('transform'));
  const moved = await transform();
  const at = await page.locator(`.tv-group.closed[data-key="${loop.key}"]`).boundingBox();
  await page.mouse.move(at.x + 10, at.y + 10);
  await page.mouse.down();
  await page.mouse.move(at.x + 40, at.y + 30, { steps: 3 });
  await page.mouse.move(at.x + 12, at.y + 12, { steps: 3 });
  await page.mouse.up();
  assert.notEqual(await transform(), moved);
  [pane] = await paneState(page);
  assert.deepEqual(pane.open, []);

  // A click opens the loop's body: its nodes appear, and the rest stays.
  const body = graph.nodes.filter((n) => graph.groups[n.g] === loop).map((n) => n.kind);
  await page.click(`.tv-group.closed[data-key="${loop.key}"]`);
  [pane] = await paneState(page);
  assert.deepEqual(pane.open, [loop.key]);
  assert.deepEqual(pane.kinds.sort(), [...top, ...body].sort());
  await shot(page, 'small-loop-open');

  // And closes again.
  await page.click(`.tv-head[data-key="${loop.key}"]`);
  [pane] = await paneState(page);
  assert.deepEqual(pane.kinds.sort(), [...top].sort());
  assert.deepEqual(pane.open, []);

  // Search by kind: every batch_norm, even inside closed blocks, is found and the first is shown.
  const wanted = graph.nodes.filter((n) => n.kind.includes('batch_norm')).length;
  assert.ok(wanted >= 1);
  await page.fill('.tv-search', 'batch_norm');
  await page.press('.tv-search', 'Enter');
  assert.equal(await page.$eval('.tsopt-viewer', (v) => v.dataset.found), String(wanted));
  assert.match(await page.textContent('.tv-found'), new RegExp(`^1 of ${wanted}$`));
  [pane] = await paneState(page);
  assert.ok(pane.kinds.includes('aten::batch_norm'), 'the match is drawn');
  assert.equal(await page.$$eval('.tv-node.selected', (n) => n.length), 1);
  // The details of the selected node: its arguments and where it came from.
  const details = await page.textContent('.tv-details');
  assert.match(details, /^aten::batch_norm/);
  assert.match(details, /running_mean = self\.bn\.running_mean/);
  assert.match(details, /in block0 \/ bn \/ batch_norm\(\)/);
  await shot(page, 'small-search');

  // Search by value name: the input x.
  const x = graph.values.findIndex((v) => v.p >= 0 && graph.nodes[v.p].kind === 'input');
  await page.fill('.tv-search', '%' + graph.values[x].n);
  await page.press('.tv-search', 'Enter');
  assert.equal(await page.$eval('.tsopt-viewer', (v) => v.dataset.found), '1');
  assert.match(await page.textContent('.tv-details'), /^input/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a generated 20,000-node model opens as a few boxes; groups open; search reveals', async () => {
  const model = path.join(work, 'large.pt');
  execFileSync(env('TSOPT_PYTHON'), [path.join(path.dirname(fileURLToPath(import.meta.url)), 'make_large_model.py'), model]);
  const file = path.join(work, 'large.html');
  tsopt('view', model, '-o', file, '-q');
  const graph = pageData(file).stages[0].graph;
  assert.ok(graph.nodes.length >= 20000, `${graph.nodes.length} nodes`);
  const { page, errors } = await open(file);
  await shot(page, 'large-open');

  // Opened: the single top group opens by itself, showing its 12 stages closed.
  let [pane] = await paneState(page);
  assert.deepEqual(pane.open, ['stages']);
  assert.deepEqual(pane.closed, Array.from({ length: 12 }, (_, i) => `stages/${i}`));
  assert.deepEqual(pane.kinds, ['input', 'return']);

  // A stage opens: its 36 blocks (closed) and its if.
  await page.click('.tv-group.closed[data-key="stages/3"]');
  [pane] = await paneState(page);
  const blocks = pane.closed.filter((k) => /^stages\/3\/\d+$/.test(k));
  assert.equal(blocks.length, 36);
  assert.ok(pane.kinds.includes('prim::If'));
  await shot(page, 'large-stage-open');
  await page.click('.tv-group.closed[data-key="stages/3/7"]');
  [pane] = await paneState(page);
  const inBlock = graph.nodes.filter((n) => graph.groups[n.g].key === 'stages/3/7').length;
  assert.equal(pane.nodes, 2 + 1 + inBlock + 3);  // input, return, the stage's if and its 3 nodes
  await page.click('.tv-head[data-key="stages/3"]');
  [pane] = await paneState(page);
  assert.equal(pane.nodes, 2);

  // A value deep inside a closed group: found once, its groups opened, drawn and selected.
  const last = graph.values.length - 1 - [...graph.values].reverse()
    .findIndex((v) => v.p >= 0 && graph.groups[graph.nodes[v.p].g].key === 'stages/11/35');
  await page.fill('.tv-search', '%' + graph.values[last].n);
  await page.press('.tv-search', 'Enter');
  assert.equal(await page.$eval('.tsopt-viewer', (v) => v.dataset.found), '1');
  [pane] = await paneState(page);
  assert.ok(pane.open.includes('stages/11') && pane.open.includes('stages/11/35'));
  assert.equal(await page.$$eval('.tv-node.selected', (n) => n.length), 1);
  await shot(page, 'large-search');
  assert.deepEqual(errors, []);
  await page.close();
});

test("a run's report: the pass's before and after side by side, marked, in step", async () => {
  const file = path.join(work, 'report.html');
  tsopt('run', path.join(fixtures, 'nested.traced.pt'), '-o', path.join(work, 'out.pt'),
    '--html', file, '-q');
  const data = pageData(file);
  const { page, errors } = await open(file);
  await page.$eval('.tsopt-viewer', (v) => v.scrollIntoView());
  assert.equal(await page.$eval('.tsopt-viewer', (v) => v.dataset.panes), '2');
  const options = await page.$$eval('.tv-choice option', (o) => o.map((x) => x.textContent));
  assert.deepEqual(options, data.passes.map((p) => p.name));
  assert.match(options[0], /^the whole run: 00-input to /);

  // fold-conv-bn: both panes open on the two Middle modules, closed and marked.
  const fold = options.findIndex((o) => /fold-conv-bn/.test(o));
  assert.ok(fold > 0, options.join(', '));
  await page.selectOption('.tv-choice', String(fold));
  const marked = () => page.$$eval('.tv-pane', (panes) => panes.map((p) =>
    [...p.querySelectorAll('.tv-group.closed.marked')].map((g) => g.dataset.key)));
  assert.deepEqual(await marked(), [['m1', 'm2'], ['m1', 'm2']]);

  // Opening m1 and then m1/a in the before pane opens them in the after pane too.
  await page.click('.tv-pane:first-child .tv-group.closed[data-key="m1"]');
  await page.click('.tv-pane:first-child .tv-group.closed[data-key="m1/a"]');
  const panes = await paneState(page);
  assert.deepEqual(panes[0].open, ['m1', 'm1/a']);
  assert.deepEqual(panes[1].open, ['m1', 'm1/a']);
  // What the pass did inside m1/a: its batch_norm removed, its convolution changed (it reads the
  // folded weights), and so is the relu (it reads the convolution now).
  const marks = await page.$$eval('.tv-pane', (all) => all.map((p) => {
    const of = (mark) => [...p.querySelectorAll(`.tv-node.mark-${mark} text.title`)]
      .map((t) => t.textContent);
    return { removed: of('removed'), changed: of('changed'), added: of('added') };
  }));
  assert.deepEqual(marks[0].removed, ['aten::batch_norm']);
  assert.deepEqual(marks[0].changed, ['aten::_convolution', 'aten::relu']);
  assert.deepEqual(marks[1].changed, ['aten::_convolution', 'aten::relu']);
  assert.deepEqual(marks[1].removed.concat(marks[1].added), []);
  assert.ok(!panes[1].kinds.includes('aten::batch_norm'));
  await shot(page, 'report-fold');

  // Selecting a node selects the same node in the other pane.
  await page.click('.tv-pane:last-child .tv-node.mark-changed >> nth=0');
  assert.deepEqual(await page.$$eval('.tv-pane', (all) => all.map((p) =>
    p.querySelector('.tv-node.selected text.title')?.textContent)),
  ['aten::_convolution', 'aten::_convolution']);

  // A drag pans both panes alike.
  const box = await page.$eval('.tv-pane:first-child .tv-svg', (s) => {
    const r = s.getBoundingClientRect();
    return { x: r.left + 20, y: r.top + 30 };
  });
  await page.mouse.move(box.x, box.y);
  await page.mouse.down();
  await page.mouse.move(box.x + 60, box.y + 90, { steps: 4 });
  await page.mouse.up();
  const transforms = await page.$$eval('.tv-pane .tv-svg > g', (g) =>
    g.map((e) => e.getAttribute('transform')));
  assert.equal(transforms[0], transforms[1]);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a report of a difference opens on the blamed pass with the first value that differs selected', async () => {
  const file = path.join(work, 'differs.html');
  const plugin = path.join(path.dirname(cli), '..', 'lib', 'tsopt_test_plugin_unsafe_drop_relu.so');
  const run = spawnSync(cli, ['run', path.join(fixtures, 'long_chain.traced.pt'), '-o',
    path.join(work, 'differs.pt'), '-p', 'inline,fold-conv-bn,unsafe-drop-relu,dce', '--plugin',
    plugin, '--verify', '--bisect', '--no-reproducer', '--html', file, '-q'], { encoding: 'utf8' });
  assert.equal(run.status, 1, run.stderr);
  const focus = pageData(file).focus;
  assert.match(focus.query, /^%input/);
  const { page, errors } = await open(file);
  await page.$eval('.tsopt-viewer', (v) => v.scrollIntoView());
  const chosen = await page.$eval('.tv-choice', (s) => s.options[s.selectedIndex].textContent);
  assert.match(chosen, /unsafe-drop-relu/);
  assert.equal(await page.$eval('.tv-search', (s) => s.value), focus.query);
  assert.equal(await page.$eval('.tv-pane:last-child .tv-node.selected text.title',
    (t) => t.textContent), 'aten::_convolution');
  assert.match(await page.textContent('body'), /The first value that differs after it/);
  await shot(page, 'report-differs');
  assert.deepEqual(errors, []);
  await page.close();
});
