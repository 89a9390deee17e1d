// Drawing on a camera's snapshot, shared by the analytics editor (zones and lines) and the
// privacy mask editor (masks): a surface that keeps the image's aspect, normalised
// coordinates (0..1 across the image, y down, as the server stores them), the SVG helpers,
// and the rules for drawing a polygon by clicking its corners and for dragging a corner or a
// whole shape.

import { errorOf, request } from './api.js';
import { h } from './ui.js';

export const SVG_NS = 'http://www.w3.org/2000/svg';
export const CLOSE_PX = 12; // a click this close to the first corner closes a polygon
export const SAME_PX = 4; // a click this close to the last corner (a double-click) closes it too
export const DIGITS = 4; // normalised coordinates are sent rounded to 1/10000 of the image

/**
 * The snapshot image with an SVG layer on top, fitted into a stage at the image's aspect.
 * `name` prefixes the test ids (`${name}-surface`, `${name}-canvas`); `onFit` redraws
 * after the size changed.
 */
export class DrawSurface {
  constructor(name, onFit) {
    this.onFit = onFit;
    this.aspect = 16 / 9;
    this.objectUrl = null;
    this.note = h('div', { class: 'snapshot-note', dataset: { testid: 'snapshot-message' }, hidden: true });
    this.image = h('img', { class: 'snapshot-image', alt: '', draggable: false, hidden: true });
    this.svg = document.createElementNS(SVG_NS, 'svg');
    this.svg.classList.add('draw-layer');
    this.svg.dataset.testid = `${name}-canvas`;
    this.surface = h('div', { class: 'draw-surface', dataset: { testid: `${name}-surface` } }, this.image, this.svg, this.note);
    this.stage = h('div', { class: 'draw-stage' }, this.surface);
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(this.stage);
    this.image.addEventListener('load', () => {
      if (this.image.naturalWidth && this.image.naturalHeight) this.aspect = this.image.naturalWidth / this.image.naturalHeight;
      this.fit();
    });
  }

  destroy() {
    this.resize.disconnect();
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
  }

  /** Until a snapshot says otherwise, the frame has the camera's shape (its health's size). */
  shapeOf(camera) {
    if (!this.image.naturalWidth && camera?.health?.width && camera?.health?.height) {
      this.aspect = camera.health.width / camera.health.height;
      this.fit();
    }
  }

  /** Show the snapshot at `url`; without one, say why and leave a dark frame to draw on. */
  async loadSnapshot(url) {
    this.note.hidden = true;
    try {
      const response = await request(`${url}?t=${Date.now()}`);
      if (!response.ok) throw await errorOf(response);
      const blob = await response.blob();
      if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
      this.objectUrl = URL.createObjectURL(blob);
      this.image.src = this.objectUrl;
      this.image.hidden = false;
      this.surface.dataset.snapshot = 'ok';
    } catch (err) {
      this.image.hidden = true;
      this.surface.dataset.snapshot = 'missing';
      const why = err.status === 404 ? 'this server has no snapshots yet' : err.message;
      this.note.textContent = `No live snapshot (${why}). You can still draw on the dark frame; ` +
        'try "Refresh snapshot" once the camera is online.';
      this.note.hidden = false;
    }
  }

  /** Fit the drawing surface (the image's aspect) into the stage. */
  fit() {
    const box = this.stage.getBoundingClientRect();
    const pad = 16;
    const w = Math.max(50, box.width - pad), hgt = Math.max(50, box.height - pad);
    const width = Math.min(w, hgt * this.aspect);
    this.surface.style.width = `${Math.round(width)}px`;
    this.surface.style.height = `${Math.round(width / this.aspect)}px`;
    this.onFit?.();
  }

  size() {
    return [this.surface.clientWidth || 1, this.surface.clientHeight || 1];
  }

  /** Normalised point of a pointer event (clamped to the image). */
  pointOf(e) {
    const r = this.svg.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return [clamp((e.clientX - r.left) / r.width), clamp((e.clientY - r.top) / r.height)];
  }

  px([x, y]) {
    const [w, hgt] = this.size();
    return [x * w, y * hgt];
  }

  distancePx(a, b) {
    const [ax, ay] = this.px(a);
    const [bx, by] = this.px(b);
    return Math.hypot(ax - bx, ay - by);
  }

  /** Empty the SVG layer for a redraw, sized to the surface; returns [width, height]. */
  clear() {
    const [w, hgt] = this.size();
    this.svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
    this.svg.replaceChildren();
    return [w, hgt];
  }

  /**
   * What a click at `p` does to a polygon being drawn (`draft`, its corners so far):
   * "close" (on the first corner, or the last one again, with 3 corners or more), "ignore"
   * (the second press of a double-click), or "add" a corner.
   */
  polygonClick(draft, p) {
    const first = draft[0];
    const last = draft[draft.length - 1];
    if (draft.length >= 3 && (this.distancePx(p, first) <= CLOSE_PX || this.distancePx(p, last) <= SAME_PX)) return 'close';
    if (last && this.distancePx(p, last) <= SAME_PX) return 'ignore';
    return 'add';
  }

  /** A shape being drawn (dashed, to the pointer) with its corners; for a polygon
   * (`closing`) the first one is larger: a click there closes it. */
  draftShape(draft, hover, closing = true) {
    const pts = [...draft, ...(hover ? [hover] : [])].map((p) => this.px(p).join(',')).join(' ');
    const g = svg('g', { class: 'draft', 'data-testid': 'draft' });
    g.append(svg('polyline', { points: pts, fill: 'none', stroke: '#fff', 'stroke-width': 2, 'stroke-dasharray': '5 4' }));
    draft.forEach((p, k) => {
      const [x, y] = this.px(p);
      g.append(svg('circle', { cx: x, cy: y, r: k === 0 && closing ? CLOSE_PX / 2 + 2 : 4, fill: k === 0 ? '#fff' : '#94a3b8', stroke: '#000' }));
    });
    return g;
  }
}

/**
 * Points of a shape being dragged from `origin` to `p`: one corner (`handle`, an index) or,
 * with `handle` null, the whole shape, kept inside the image.
 */
export function dragPoints(before, handle, origin, p) {
  if (handle !== null) {
    const points = before.map((q) => [...q]);
    points[Number(handle)] = p;
    return points;
  }
  let dx = p[0] - origin[0], dy = p[1] - origin[1];
  for (const [x, y] of before) {
    dx = Math.min(Math.max(dx, -x), 1 - x);
    dy = Math.min(Math.max(dy, -y), 1 - y);
  }
  return before.map(([x, y]) => [x + dx, y + dy]);
}

/** A point rounded as it is sent to the server. */
export function rounded(p) {
  const round = (v) => Number(v.toFixed(DIGITS));
  return [round(p[0]), round(p[1])];
}

export function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export function label(text, x, y, colour) {
  const t = svg('text', { x, y, fill: colour, class: 'shape-label' });
  t.textContent = text;
  return t;
}

/** A draggable corner of shape `index` of `kind`. */
export function handle([x, y], kind, index, k, colour) {
  return svg('circle', { cx: x, cy: y, r: 6, fill: '#0b0e13', stroke: colour, 'stroke-width': 2, class: 'handle',
    'data-kind': kind, 'data-index': index, 'data-handle': k, 'data-testid': 'handle' });
}

/** "Zone 3": the first such name not taken among `shapes`. */
export function uniqueName(prefix, shapes) {
  const names = new Set(shapes.map((s) => s.name));
  let n = shapes.length + 1;
  while (names.has(`${prefix} ${n}`)) n += 1;
  return `${prefix} ${n}`;
}
