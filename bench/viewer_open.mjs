#!/usr/bin/env node
// The viewer on the user's path: for each model, the whole `tsopt view MODEL -o PAGE` command in
// a fresh process, then a fresh Chromium opening the page until the viewer has drawn (the
// navigation's start to the viewer's data-ready, and the browser's launch separately). Side by
// side, interleaved round by round, what a user has without it: `tsopt dot --inline -o G.svg`
// (one Graphviz picture) and the same browser opening that SVG until its load event. Medians.
//
// Usage: bench/viewer_open.mjs TSOPT MODEL.pt... [--runs N] [--no-dot]
//   (run from the source tree after scripts/build; playwright-core from ir_dump/viewer)
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = createRequire(path.join(here, '..', 'ir_dump', 'viewer', 'package.json'))(
  'playwright-core');

const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return null;
  const [, value] = args.splice(i, 2);
  return value;
};
const runs = Number(flag('--runs') || 5);
const noDot = args.includes('--no-dot') && args.splice(args.indexOf('--no-dot'), 1);
const [tsopt, ...models] = args;
if (!tsopt || !models.length) {
  console.error('usage: viewer_open.mjs TSOPT MODEL.pt... [--runs N] [--no-dot]');
  process.exit(2);
}
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsopt-viewer-bench-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const now = () => Number(process.hrtime.bigint() / 1000n) / 1000;  // ms

function timed(fn) {
  const t = now();
  fn();
  return now() - t;
}

/// A fresh browser: its launch, then the page from navigation to `ready`.
async function open(file, ready) {
  const t0 = now();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'] });
  const launched = now();
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const t1 = now();
  await page.goto('file://' + file, { waitUntil: 'load', timeout: 600000 });
  await ready(page);
  const shown = now() - t1;
  await browser.close();
  return { launch: launched - t0, shown };
}

const viewerReady = (page) => page.waitForSelector('.tsopt-viewer[data-ready=yes]');
const results = {};
for (let round = 0; round < runs; round++) {
  for (const model of models) {
    const name = path.basename(model, '.pt');
    const r = (results[name] ??= { view: [], open: [], launch: [], nodes: 0, bytes: 0, dot: [], svg: [] });
    const page = path.join(work, name + '.html');
    r.view.push(timed(() => execFileSync(tsopt, ['view', model, '-o', page, '-q'], { stdio: 'ignore' })));
    const o = await open(page, viewerReady);
    r.open.push(o.shown);
    r.launch.push(o.launch);
    if (!r.nodes) {
      const html = fs.readFileSync(page, 'utf8');
      const data = JSON.parse(html.match(/<script type="application\/json" id="viewer-data">(.*?)<\/script>/s)[1]);
      r.nodes = data.stages[0].graph.nodes.length;
      r.bytes = html.length;
    }
    if (!noDot) {
      const svg = path.join(work, name + '.svg');
      r.dot.push(timed(() => execFileSync(tsopt, ['dot', model, '--inline', '-o', svg, '-q'], { stdio: 'ignore' })));
      r.svg.push((await open(svg, async () => {})).shown);
    }
  }
}
const f = (ms) => (ms / 1000).toFixed(2) + ' s';
console.log(`medians of ${runs} rounds (tsopt view, then a fresh Chromium; tsopt dot --inline to SVG, then a fresh Chromium)`);
console.log('model | nodes | page | tsopt view | page drawn | browser launch | tsopt dot (svg) | svg drawn');
for (const [name, r] of Object.entries(results)) {
  console.log([name, r.nodes, (r.bytes / 1e6).toFixed(1) + ' MB', f(median(r.view)), f(median(r.open)),
    f(median(r.launch)), r.dot.length ? f(median(r.dot)) : '-', r.svg.length ? f(median(r.svg)) : '-'].join(' | '));
}
fs.rmSync(work, { recursive: true, force: true });
