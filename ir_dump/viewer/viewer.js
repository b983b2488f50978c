// tsopt's interactive graph viewer. Reads the page's JSON (ir_dump/graph_view.h describes a
// graph; ir_dump/viewer_page.h the page), lays out only what is open, one group at a time with
// dagre, and draws it as SVG. Groups (submodules, called functions, blocks of prim::If and
// prim::Loop, runs of a long group) open and close on click; the canvas pans and zooms; search
// finds nodes by kind or value name; a click on a node shows its inputs, outputs, types,
// arguments and source. With two stages (a pass's before and after) two panes share what is
// open, the view and the selection, and mark what the pass added, removed or changed.
/* global dagre */
(function () {
  'use strict';

  const SVGNS = 'http://www.w3.org/2000/svg';
  const LINE = 14;      // px per text line in a box
  const CHAR = 7;       // px per character at the boxes' font size (bold, monospace)
  const PAD = 10;       // px inside an open group
  const HEADER = 22;    // px of an open group's title bar
  const MAX_CHARS = 44; // characters shown per line

  function el(tag, attrs, parent) {
    const e = document.createElementNS(SVGNS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function html(tag, attrs, parent, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function clip(s) {
    return s.length > MAX_CHARS ? s.slice(0, MAX_CHARS - 1) + '\u2026' : s;
  }

  // ---- The model of one graph: groups as a tree, nodes, and edges by level. ----

  class GraphModel {
    constructor(json) {
      this.groups = json.groups.map((g) => Object.assign({ members: [], count: 0 }, g));
      this.nodes = json.nodes;
      this.values = json.values;
      this.byKey = new Map();
      for (let i = 0; i < this.groups.length; i++) {
        const p = this.groups[i].parent;
        if (p >= 0) this.groups[p].members.push(-(i + 1));
        this.byKey.set(this.groups[i].key, i);
      }
      this.nodes.forEach((n, i) => this.groups[n.g].members.push(i));
      // Members in graph order: a group's place is that of its first node.
      const first = new Array(this.groups.length).fill(Infinity);
      this.nodes.forEach((n, i) => {
        for (let g = n.g; g >= 0 && first[g] > i; g = this.groups[g].parent) first[g] = i;
      });
      const order = (m) => (m >= 0 ? m : first[-m - 1]);
      for (const g of this.groups) g.members.sort((a, b) => order(a) - order(b));
      // Ancestor chains (root first), node counts, depths.
      this.chain = this.groups.map(() => null);
      const chainOf = (g) => {
        if (this.chain[g]) return this.chain[g];
        const p = this.groups[g].parent;
        return (this.chain[g] = p < 0 ? [g] : chainOf(p).concat([g]));
      };
      this.groups.forEach((_, g) => chainOf(g));
      this.nodes.forEach((n) => {
        for (const g of this.chain[n.g]) this.groups[g].count++;
      });
      // Edges from producer to consumer, and for each group the edges between its members. A
      // block hangs below its prim::If or prim::Loop by an edge of its own (drawn dotted).
      this.edges = [];
      this.blockEdges = [];
      this.users = this.nodes.map(() => []);
      this.levelEdges = this.groups.map(() => []);
      const level = (p, chainA, c, chainB) => {
        let d = 0;
        while (d + 1 < chainA.length && d + 1 < chainB.length && chainA[d + 1] === chainB[d + 1]) d++;
        const ma = d + 1 < chainA.length ? -(chainA[d + 1] + 1) : p;
        const mb = d + 1 < chainB.length ? -(chainB[d + 1] + 1) : c;
        if (ma !== mb) this.levelEdges[chainA[d]].push([ma, mb]);
      };
      const seen = new Set();
      this.nodes.forEach((n, c) => {
        for (const v of n.in) {
          const p = this.values[v].p;
          if (p < 0 || p === c) continue;
          const id = p + ':' + c;
          if (seen.has(id)) continue;
          seen.add(id);
          this.edges.push([p, c]);
          this.users[p].push(c);
          level(p, this.chain[this.nodes[p].g], c, this.chain[n.g]);
        }
      });
      this.groups.forEach((g, i) => {
        if (g.owner === undefined) return;
        this.blockEdges.push([g.owner, -(i + 1)]);
        level(g.owner, this.chain[this.nodes[g.owner].g], -(i + 1), this.chain[i]);
      });
    }
    nodeByKey(k) {
      if (!this.keyIndex) {
        this.keyIndex = new Map();
        this.nodes.forEach((n, i) => this.keyIndex.set(n.k, i));
      }
      return this.keyIndex.get(k);
    }
    groupPath(g) {
      return this.chain[g].slice(1).map((i) => this.groups[i].name).join(' / ');
    }
  }

  // What a pass did: marks on the nodes of the graph before it and after it.
  function compare(before, after) {
    const marksBefore = new Map(), marksAfter = new Map();
    after.nodes.forEach((n, i) => {
      const j = before.nodeByKey(n.k);
      if (j === undefined) marksAfter.set(i, 'added');
      else if (before.nodes[j].s !== n.s) marksAfter.set(i, 'changed');
    });
    before.nodes.forEach((n, i) => {
      const j = after.nodeByKey(n.k);
      if (j === undefined) marksBefore.set(i, 'removed');
      else if (after.nodes[j].s !== n.s) marksBefore.set(i, 'changed');
    });
    return [marksBefore, marksAfter];
  }

  // ---- State shared by the panes of one view: what is open, the transform, the selection. ----

  class Shared {
    constructor(colours) {
      this.colours = colours;  // op family -> fill, as DOT pictures colour them
      this.open = new Set(['']);
      this.panes = [];
    }
    toggle(key, from) {
      if (this.open.has(key)) this.open.delete(key);
      else this.open.add(key);
      for (const p of this.panes) p.refresh(p === from ? key : null);
    }
    openAll(keys) {
      for (const k of keys) this.open.add(k);
    }
    transformed(from) {
      for (const p of this.panes) if (p !== from) p.setTransform(from.t, false);
    }
    selected(from, key) {
      for (const p of this.panes) if (p !== from) p.selectKey(key);
    }
  }

  // ---- One pane: layout of what is open, SVG, pan and zoom, selection. ----

  class Pane {
    constructor(root, model, marks, shared, details, title) {
      this.model = model;
      this.marks = marks || new Map();
      this.shared = shared;
      this.details = details;
      this.t = { x: 20, y: 20, k: 1 };
      this.cache = new Map();
      this.selected = -1;
      this.matches = new Set();
      this.box = html('div', { class: 'tv-pane' }, root);
      if (title) html('div', { class: 'tv-pane-title' }, this.box, title);
      this.svg = el('svg', { class: 'tv-svg' }, this.box);
      this.layer = el('g', {}, this.svg);
      this.markedBelow = this.countMarks();
      this.listen();
      shared.panes.push(this);
    }

    countMarks() {
      const counts = new Map();
      for (const [n] of this.marks) {
        for (const g of this.model.chain[this.model.nodes[n].g]) counts.set(g, (counts.get(g) || 0) + 1);
      }
      return counts;
    }

    isOpen(g) {
      return this.shared.open.has(this.model.groups[g].key);
    }

    nodeLines(i) {
      const n = this.model.nodes[i];
      const lines = [n.kind];
      for (const a of (n.args || []).slice(0, 2)) lines.push(a);
      if ((n.args || []).length > 2) lines.push('\u2026 ' + (n.args.length - 2) + ' more');
      if (n.out.length && n.kind !== 'input') lines.push(': ' + this.model.values[n.out[0]].t);
      if (n.kind === 'input') {
        const v = this.model.values[n.out[0]];
        lines.push(v.n + ' : ' + v.t);
      }
      return lines.map(clip);
    }

    groupLines(g) {
      const grp = this.model.groups[g];
      const title = grp.kind === 'block' ? grp.name + ' of ' + grp.type
        : grp.type && grp.kind === 'module' ? grp.name + ' : ' + grp.type : grp.name;
      const count = grp.count + (grp.count === 1 ? ' node' : ' nodes');
      const marked = this.markedBelow.get(g);
      return [clip(title), count + (marked ? ', ' + marked + ' marked' : '')];
    }

    sizeOf(lines) {
      let w = 0;
      for (const l of lines) w = Math.max(w, l.length);
      return { w: Math.max(60, (w + 2) * CHAR + 12), h: lines.length * LINE + 10 };
    }

    // Lays out group g as it is open now: members' positions relative to the group's corner.
    layout(g) {
      const hit = this.cache.get(g);
      if (hit) return hit;
      const members = this.model.groups[g].members;
      const items = [];
      const dg = new dagre.graphlib.Graph();
      dg.setGraph({ rankdir: 'TB', nodesep: 18, ranksep: 26, marginx: 0, marginy: 0 });
      dg.setDefaultEdgeLabel(() => ({}));
      for (const m of members) {
        let size, sub = null;
        if (m < 0 && this.isOpen(-m - 1)) {
          sub = this.layout(-m - 1);
          size = { w: sub.w, h: sub.h };
        } else {
          size = this.sizeOf(m < 0 ? this.groupLines(-m - 1) : this.nodeLines(m));
        }
        items.push({ m, w: size.w, h: size.h, sub });
        dg.setNode(String(m), { width: size.w, height: size.h });
      }
      for (const [a, b] of this.model.levelEdges[g]) dg.setEdge(String(a), String(b));
      let w = 0, h = 0;
      if (items.length) {
        dagre.layout(dg);
        for (const it of items) {
          const p = dg.node(String(it.m));
          it.x = p.x - it.w / 2;
          it.y = p.y - it.h / 2;
          w = Math.max(w, it.x + it.w);
          h = Math.max(h, it.y + it.h);
        }
      }
      const isRoot = g === 0;
      const pad = isRoot ? 0 : PAD, top = isRoot ? 0 : HEADER;
      const title = this.groupLines(g)[0];
      const out = { items, w: Math.max(w + 2 * pad, title.length * CHAR + 40), h: h + top + pad * (items.length ? 2 : 1), pad, top };
      this.cache.set(g, out);
      return out;
    }

    // Forget the layouts that depend on whether `key`'s group is open.
    invalidate(key) {
      const g = this.model.byKey.get(key);
      if (g === undefined) return;
      for (const a of this.model.chain[g]) this.cache.delete(a);
    }

    // Lays out and draws again after groups opened or closed: only around `anchorKey`'s group
    // when that is the one that changed, which then stays where it was on screen.
    refresh(anchorKey) {
      if (anchorKey) this.invalidate(anchorKey);
      else this.cache.clear();
      const anchor = anchorKey ? this.model.byKey.get(anchorKey) : undefined;
      const was = anchor !== undefined && this.pos ? this.pos.get(-(anchor + 1)) : null;
      this.render();
      const now = anchor !== undefined ? this.pos.get(-(anchor + 1)) : null;
      if (was && now) {
        this.t.x += (was.x - now.x) * this.t.k;
        this.t.y += (was.y - now.y) * this.t.k;
        this.applyTransform();
      }
    }

    // Draws what is open: open groups' frames at the back, then the edges, then boxes on top.
    render() {
      const layer = this.layer;
      layer.textContent = '';
      this.pos = new Map();  // member -> absolute box
      this.visibleNodes = 0;
      this.visibleGroups = 0;
      const frames = el('g', {}, layer), edges = el('g', { class: 'tv-edges' }, layer);
      const boxes = el('g', {}, layer);
      const place = (g, x, y) => {
        const L = this.layout(g);
        const grp = this.model.groups[g];
        if (g !== 0) {
          const cls = 'tv-group open kind-' + grp.kind;
          el('rect', { x, y, width: L.w, height: L.h, rx: 6 },
            el('g', { class: cls, 'data-key': grp.key }, frames));
          const head = el('g', { class: 'tv-head', 'data-key': grp.key }, boxes);
          el('rect', { x, y, width: L.w, height: HEADER - 4, rx: 6 }, head);
          el('text', { x: x + 8, y: y + 13 }, head).textContent = '\u2212 ' + this.groupLines(g)[0];
          head.addEventListener('click', (e) => this.clicked(e) && this.shared.toggle(grp.key, this));
          this.pos.set(-(g + 1), { x, y, w: L.w, h: L.h });
          this.visibleGroups++;
        }
        const ox = x + L.pad, oy = y + L.top;
        for (const it of L.items) {
          const ax = ox + it.x, ay = oy + it.y;
          if (it.sub) place(-it.m - 1, ax, ay);
          else if (it.m < 0) this.drawGroup(-it.m - 1, ax, ay, it, boxes);
          else this.drawNode(it.m, ax, ay, it, boxes);
        }
      };
      place(0, 0, 0);
      this.drawEdges(edges);
      this.applyTransform();
      this.box.dataset.visibleNodes = this.visibleNodes;
      this.box.dataset.visibleGroups = this.visibleGroups;
    }

    drawGroup(g, x, y, it, parent) {
      const grp = this.model.groups[g];
      const marked = this.markedBelow.get(g);
      const gEl = el('g', { class: 'tv-group closed kind-' + grp.kind + (marked ? ' marked' : ''), 'data-key': grp.key }, parent);
      el('rect', { x, y, width: it.w, height: it.h, rx: 6 }, gEl);
      const lines = this.groupLines(g);
      lines.forEach((l, i) => {
        const t = el('text', { x: x + 8, y: y + 15 + i * LINE, class: i ? 'sub' : 'title' }, gEl);
        t.textContent = (i ? '' : '+ ') + l;
      });
      gEl.addEventListener('click', (e) => this.clicked(e) && this.shared.toggle(grp.key, this));
      this.pos.set(-(g + 1), { x, y, w: it.w, h: it.h });
      this.visibleGroups++;
    }

    drawNode(i, x, y, it, parent) {
      const n = this.model.nodes[i];
      const mark = this.marks.get(i);
      const cls = 'tv-node' + (mark ? ' mark-' + mark : '') + (i === this.selected ? ' selected' : '') + (this.matches.has(i) ? ' match' : '');
      const gEl = el('g', { class: cls, 'data-node': i }, parent);
      const fill = n.kind === 'input' || n.kind === 'return' ? '#e5f5e0' : n.kind === 'block return' ? '#f0f0f0' : this.shared.colours[n.fam] || '#fff';
      el('rect', { x, y, width: it.w, height: it.h, rx: 4, fill }, gEl);
      this.nodeLines(i).forEach((l, j) => {
        const t = el('text', { x: x + 8, y: y + 15 + j * LINE, class: j ? 'sub' : 'title' }, gEl);
        t.textContent = l;
      });
      gEl.addEventListener('click', (e) => this.clicked(e) && this.select(i));
      this.pos.set(i, { x, y, w: it.w, h: it.h });
      this.visibleNodes++;
    }

    // Whether a click on a box is one (not the end of a drag).
    clicked(e) {
      e.stopPropagation();
      return !this.dragged;
    }

    // The box that shows node i now: the node, or its outermost closed group.
    shownAs(i) {
      for (const g of this.model.chain[this.model.nodes[i].g]) {
        if (!this.isOpen(g)) return -(g + 1);
      }
      return i;
    }

    // The box that shows group g now: g, or its outermost closed ancestor.
    shownAsGroup(g) {
      for (const a of this.model.chain[g]) {
        if (a !== g && !this.isOpen(a)) return -(a + 1);
      }
      return -(g + 1);
    }

    drawEdges(layer) {
      const drawn = new Set();
      let d = '';
      for (const [p, c] of this.model.edges) {
        const a = this.shownAs(p), b = this.shownAs(c);
        if (a === b) continue;
        const id = a + ':' + b;
        if (drawn.has(id)) continue;
        drawn.add(id);
        const A = this.pos.get(a), B = this.pos.get(b);
        if (!A || !B) continue;
        const x1 = A.x + A.w / 2, y1 = A.y + A.h, x2 = B.x + B.w / 2, y2 = B.y;
        const dy = Math.max(20, Math.abs(y2 - y1) / 2);
        d += 'M' + x1 + ',' + y1 + 'C' + x1 + ',' + (y1 + dy) + ' ' + x2 + ',' + (y2 - dy) + ' ' + x2 + ',' + y2;
      }
      el('path', { d, class: 'tv-edge' }, layer);
      let dotted = '';
      for (const [owner, block] of this.model.blockEdges) {
        const a = this.shownAs(owner), B = this.pos.get(block), A = this.pos.get(a);
        if (!A || !B || a === this.shownAsGroup(-block - 1)) continue;
        dotted += 'M' + (A.x + A.w / 2) + ',' + (A.y + A.h) + 'L' + (B.x + B.w / 2) + ',' + B.y;
      }
      el('path', { d: dotted, class: 'tv-edge block' }, layer);
    }

    // ---- Pan, zoom, fit. ----

    applyTransform() {
      this.layer.setAttribute('transform', 'translate(' + this.t.x + ',' + this.t.y + ') scale(' + this.t.k + ')');
    }

    setTransform(t, propagate) {
      this.t = { x: t.x, y: t.y, k: t.k };
      this.applyTransform();
      if (propagate) this.shared.transformed(this);
    }

    // Fits the widest pane's graph to its width (a tall graph is then panned down), no smaller
    // than text stays readable; every pane gets the same view.
    fit() {
      let k = 1;
      for (const p of this.shared.panes) {
        const w = p.svg.getBoundingClientRect().width;
        k = Math.min(k, (w - 40) / p.layout(0).w);
      }
      k = Math.max(0.4, k);
      const r = this.svg.getBoundingClientRect();
      this.setTransform({ x: Math.max(20, (r.width - this.layout(0).w * k) / 2), y: 20, k }, true);
    }

    centerOn(member) {
      const b = this.pos.get(member);
      if (!b) return;
      const r = this.svg.getBoundingClientRect();
      const k = Math.max(this.t.k, 0.6);
      this.setTransform({ x: r.width / 2 - (b.x + b.w / 2) * k, y: r.height / 2 - (b.y + b.h / 2) * k, k }, true);
    }

    listen() {
      let drag = null;
      this.svg.addEventListener('pointerdown', (e) => {
        drag = { x: e.clientX, y: e.clientY, t: Object.assign({}, this.t), moved: false };
        this.dragged = false;
      });
      window.addEventListener('pointermove', (e) => {
        if (!drag) return;
        const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
        if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
        this.setTransform({ x: drag.t.x + dx, y: drag.t.y + dy, k: drag.t.k }, true);
      });
      // A drag that ends over a box is no click on it.
      window.addEventListener('pointerup', () => {
        if (drag) this.dragged = drag.moved;
        drag = null;
      });
      this.svg.addEventListener('wheel', (e) => {
        e.preventDefault();
        const r = this.svg.getBoundingClientRect();
        const px = e.clientX - r.left, py = e.clientY - r.top;
        const k = Math.min(4, Math.max(0.02, this.t.k * Math.exp(-e.deltaY * 0.0015)));
        const f = k / this.t.k;
        this.setTransform({ x: px - (px - this.t.x) * f, y: py - (py - this.t.y) * f, k }, true);
      }, { passive: false });
    }

    // ---- Selection, search, details. ----

    // Opens every group around node i, so that it is drawn.
    reveal(i) {
      const keys = this.model.chain[this.model.nodes[i].g].map((g) => this.model.groups[g].key);
      const closed = keys.filter((k) => !this.shared.open.has(k));
      if (!closed.length) return false;
      this.shared.openAll(closed);
      for (const p of this.shared.panes) p.refresh(null);
      return true;
    }

    // Selects node i here, shows its details, and selects the same node in the other pane.
    select(i) {
      this.selected = i;
      this.reveal(i) || this.render();
      this.showDetails(i);
      this.shared.selected(this, this.model.nodes[i].k);
    }

    // Selects the node with `key`, if this graph has it (a removed node is only in one pane).
    selectKey(key) {
      const i = this.model.nodeByKey(key);
      this.selected = i === undefined ? -1 : i;
      if (i === undefined || !this.reveal(i)) this.render();
    }

    search(query) {
      this.matches = new Set();
      const q = query.trim().toLowerCase();
      if (q) {
        const qv = q.replace(/^%/, '');
        this.model.nodes.forEach((n, i) => {
          if (n.kind.toLowerCase().includes(q)) { this.matches.add(i); return; }
          for (const v of n.out) {
            if (this.model.values[v].n.toLowerCase() === qv) { this.matches.add(i); return; }
          }
        });
      }
      this.render();
      return Array.from(this.matches);
    }

    showDetails(i) {
      const m = this.model, n = m.nodes[i], d = this.details;
      d.textContent = '';
      html('h3', {}, d, n.kind);
      const mark = this.marks.get(i);
      if (mark) html('p', { class: 'tv-mark-' + mark }, d, mark + ' by this pass');
      const path = m.groupPath(n.g);
      if (path) html('p', {}, d, 'in ' + path);
      if (n.src) html('pre', {}, d, n.src);
      const list = (title, items) => {
        if (!items.length) return;
        html('h4', {}, d, title);
        const ul = html('ul', {}, d);
        for (const [text, target] of items) {
          const li = html('li', {}, ul);
          if (target === undefined) li.textContent = text;
          else {
            const a = html('a', { href: '#' }, li, text);
            a.addEventListener('click', (e) => { e.preventDefault(); this.select(target); this.centerOn(this.shownAs(target)); });
          }
        }
      };
      list('arguments', (n.args || []).map((a) => [a]));
      list('attributes', (n.attrs || []).map((a) => [a]));
      list('inputs', n.in.map((v) => {
        const val = m.values[v];
        if (val.p < 0) return ['%' + val.n + ' : ' + val.t + (val.c ? ' = ' + val.c : '')];
        return ['%' + val.n + ' : ' + val.t + '  \u2190 ' + m.nodes[val.p].kind, val.p];
      }));
      list('outputs', n.out.map((v) => ['%' + m.values[v].n + ' : ' + m.values[v].t]));
      list('used by', m.users[i].map((u) => [m.nodes[u].kind, u]));
    }
  }

  // Opens the root and any chain of single groups below it, so that the first view shows boxes.
  function openStart(model, shared) {
    let g = 0;
    for (;;) {
      const members = model.groups[g].members;
      const groups = members.filter((m) => m < 0);
      if (members.length > 3 || groups.length !== 1) break;
      g = -groups[0] - 1;
      shared.open.add(model.groups[g].key);
    }
  }

  // ---- The page: a toolbar, one or two panes, the details panel. ----

  function mount(root, data) {
    const started = performance.now();
    const models = [];  // built when first shown
    const model = (i) => (models[i] ??= new GraphModel(data.stages[i].graph));
    const bar = html('div', { class: 'tv-bar' }, root);
    // A menu of passes (two panes each), or of methods (one pane each) when there are several.
    const byPass = data.passes.length > 0;
    let select = null;
    if (byPass || data.stages.length > 1) {
      html('label', {}, bar, byPass ? 'pass ' : 'method ');
      select = html('select', { class: 'tv-choice' }, bar);
      (byPass ? data.passes : data.stages).forEach((p, i) => html('option', { value: i }, select, p.name));
    }
    const search = html('input', { type: 'search', class: 'tv-search', placeholder: 'search kind or %value' }, bar);
    const found = html('span', { class: 'tv-found' }, bar);
    const prev = html('button', { type: 'button' }, bar, '\u2191');
    const next = html('button', { type: 'button' }, bar, '\u2193');
    const fit = html('button', { type: 'button' }, bar, 'fit');
    const collapse = html('button', { type: 'button' }, bar, 'collapse all');
    const note = html('span', { class: 'tv-note' }, bar);
    const main = html('div', { class: 'tv-main' }, root);
    const panesBox = html('div', { class: 'tv-panes' }, main);
    const details = html('div', { class: 'tv-details' }, main);
    html('p', {}, details, 'Click a box: a group opens or closes, a node shows its inputs, outputs and source here. Drag to pan, wheel to zoom.');
    let panes = [], hits = [], at = -1, shared = null;

    function show(choice) {
      panesBox.textContent = '';
      shared = new Shared(data.families);
      let pairs;
      if (!byPass) {
        pairs = [[model(choice), new Map(), null]];
        note.textContent = '';
      } else {
        const p = data.passes[choice];
        const a = model(p.before), b = model(p.after);
        const same = data.stages[p.before].gid === data.stages[p.after].gid;
        const [mb, ma] = same ? compare(a, b) : [new Map(), new Map()];
        note.textContent = same ? '' : 'the pass made a new graph: its nodes are not matched';
        pairs = [[a, mb, 'before: ' + data.stages[p.before].name], [b, ma, 'after: ' + data.stages[p.after].name]];
      }
      for (const [m] of pairs) openStart(m, shared);
      panes = pairs.map(([m, marks, title]) => new Pane(panesBox, m, marks, shared, details, title));
      panes.forEach((p) => p.render());
      panes[0].fit();
      root.dataset.panes = panes.length;
      hits = []; at = -1; found.textContent = '';
      if (search.value) runSearch();
    }

    function runSearch() {
      hits = panes[panes.length - 1].search(search.value);
      for (const p of panes.slice(0, -1)) p.search(search.value);
      at = -1;
      found.textContent = search.value ? hits.length + ' found' : '';
      root.dataset.found = hits.length;
      if (hits.length) step(1);
    }
    function step(dir) {
      if (!hits.length) return;
      at = (at + dir + hits.length) % hits.length;
      const pane = panes[panes.length - 1];
      pane.select(hits[at]);
      pane.centerOn(pane.shownAs(hits[at]));
      found.textContent = (at + 1) + ' of ' + hits.length;
    }

    // Enter searches a new query, then steps through its matches (Shift+Enter back).
    let searched = null;
    const searchNow = () => { searched = search.value; runSearch(); };
    search.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter') return;
      e.preventDefault();
      if (hits.length && searched === search.value) step(e.shiftKey ? -1 : 1);
      else searchNow();
    });
    search.addEventListener('search', searchNow);
    prev.addEventListener('click', () => step(-1));
    next.addEventListener('click', () => step(1));
    fit.addEventListener('click', () => panes[0].fit());
    collapse.addEventListener('click', () => {
      shared.open = new Set(['']);
      for (const p of panes) p.refresh(null);
      panes[0].fit();
    });
    if (select) {
      select.addEventListener('change', () => show(Number(select.value)));
    }
    // A report of a difference opens on the blamed pass with the first value that differs found.
    if (data.focus && select) {
      select.value = String(data.focus.pass);
      search.value = data.focus.query;
      searched = search.value;
    }
    show(select ? Number(select.value) : 0);
    root.dataset.ready = 'yes';
    root.dataset.openMs = Math.round(performance.now() - started);
  }

  function start() {
    for (const root of document.querySelectorAll('.tsopt-viewer')) {
      const data = JSON.parse(document.getElementById(root.dataset.source).textContent);
      mount(root, data);
    }
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
