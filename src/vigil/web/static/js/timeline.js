// The recording timeline of one camera, drawn in SVG: recorded ranges as bars, gaps as
// hatched bars (with their reason on hover), a time axis in local time, the "now" marker,
// the playback position and a selection. Click = seek, drag = select a span.

import { formatClock, formatDateTime, formatDay, formatDuration } from './ui.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const HEIGHT = 58;
const TRACK_TOP = 4;
const TRACK_HEIGHT = 26;
const AXIS_Y = TRACK_TOP + TRACK_HEIGHT;
const MIN_TICK_PX = 90;
const DRAG_PX = 4;
const NOW_LABEL_PX = 40; // tick labels this close to the "now" label are left out
// Tick steps in seconds, from 10 s to a day.
const STEPS = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, v);
  for (const c of children) if (c) el.append(c);
  return el;
}

export class Timeline {
  /**
   * @param {HTMLElement} container - gets the SVG and a hover tooltip
   * @param {{onSeek?: (d: Date) => void, onSelect?: (a: Date, b: Date) => void}} handlers
   */
  constructor(container, { onSeek, onSelect } = {}) {
    this.container = container;
    this.onSeek = onSeek ?? (() => {});
    this.onSelect = onSelect ?? (() => {});
    this.start = new Date(Date.now() - 3600e3);
    this.end = new Date();
    this.ranges = [];
    this.gaps = [];
    this.cursor = null;
    this.selection = null;
    this.width = 0;
    this._drag = null;

    container.classList.add('timeline');
    this.svg = svg('svg', { height: HEIGHT, 'data-testid': 'timeline', role: 'slider',
      'aria-label': 'Recording timeline: click to play from a moment, drag to select' });
    this.hoverLine = h('div', 'tl-hover-line');
    this.tooltip = h('div', 'tl-tooltip');
    this.tooltip.dataset.testid = 'timeline-tooltip';
    this.hoverLine.hidden = this.tooltip.hidden = true;
    container.append(this.svg, this.hoverLine, this.tooltip);

    this.svg.addEventListener('pointerdown', (e) => this._down(e));
    this.svg.addEventListener('pointermove', (e) => this._move(e));
    this.svg.addEventListener('pointerup', (e) => this._up(e));
    this.svg.addEventListener('pointerleave', () => this._hideHover());
    this._resize = new ResizeObserver(() => this.render());
    this._resize.observe(container);
  }

  destroy() {
    this._resize.disconnect();
    this.container.replaceChildren();
  }

  /** The visible window. */
  setWindow(start, end) {
    this.start = start;
    this.end = end;
    this.render();
  }

  /** Recorded ranges and gaps: arrays of {start: Date, end: Date, reason?}. */
  setData(ranges, gaps) {
    this.ranges = ranges;
    this.gaps = gaps;
    this.render();
  }

  /** The playback position (a Date), or null in live view. */
  setCursor(date) {
    this.cursor = date;
    this._drawCursor();
  }

  /** The selected span [start, end] (Dates), or null. */
  setSelection(span) {
    this.selection = span;
    this.render();
  }

  timeAt(x) {
    const span = this.end - this.start;
    return new Date(this.start.getTime() + (Math.min(Math.max(x, 0), this.width) / this.width) * span);
  }

  xOf(date) {
    return ((date - this.start) / (this.end - this.start)) * this.width;
  }

  render() {
    const width = this.container.clientWidth;
    if (!width) return;
    this.width = width;
    const s = this.svg;
    s.setAttribute('width', width);
    s.dataset.start = String(this.start.getTime());
    s.dataset.end = String(this.end.getTime());
    s.replaceChildren();

    s.append(svg('defs', {}, svg('pattern', { id: 'tl-hatch', width: 6, height: 6,
      patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
      svg('rect', { width: 6, height: 6, class: 'tl-gap-bg' }),
      svg('line', { x1: 0, y1: 0, x2: 0, y2: 6, class: 'tl-gap-stripe' }))));
    s.append(svg('rect', { x: 0, y: TRACK_TOP, width, height: TRACK_HEIGHT, class: 'tl-track' }));

    const clip = (a, b) => [Math.max(0, this.xOf(a)), Math.min(width, this.xOf(b))];
    for (const r of this.ranges) {
      const [x0, x1] = clip(r.start, r.end);
      if (x1 <= 0 || x0 >= width) continue;
      s.append(svg('rect', { x: x0, y: TRACK_TOP, width: Math.max(1, x1 - x0), height: TRACK_HEIGHT,
        class: 'tl-range', 'data-testid': 'timeline-range' }));
    }
    for (const g of this.gaps) {
      const [x0, x1] = clip(g.start, g.end);
      if (x1 <= 0 || x0 >= width) continue;
      const rect = svg('rect', { x: x0, y: TRACK_TOP, width: Math.max(2, x1 - x0), height: TRACK_HEIGHT,
        class: 'tl-gap', 'data-testid': 'timeline-gap', 'data-reason': g.reason ?? '' });
      rect.append(svg('title', {}, document.createTextNode(gapText(g))));
      s.append(rect);
    }
    if (this.selection) {
      const [x0, x1] = clip(...this.selection);
      if (x1 > x0) {
        s.append(svg('rect', { x: x0, y: TRACK_TOP - 2, width: x1 - x0, height: TRACK_HEIGHT + 4,
          class: 'tl-selection', 'data-testid': 'timeline-selection' }));
      }
    }
    this._drawAxis(width);
    const nowX = this.xOf(new Date());
    if (nowX >= 0 && nowX <= width) {
      s.append(svg('line', { x1: nowX, x2: nowX, y1: 0, y2: AXIS_Y + 6, class: 'tl-now',
        'data-testid': 'timeline-now' }));
      s.append(svg('text', { x: nowX - 3, y: HEIGHT - 4, class: 'tl-now-label', 'text-anchor': 'end' },
        document.createTextNode('now')));
    }
    this.cursorEl = svg('g', { class: 'tl-cursor', 'data-testid': 'timeline-cursor' },
      svg('line', { x1: 0, x2: 0, y1: 0, y2: AXIS_Y + 2 }),
      svg('path', { d: 'M -5 0 L 5 0 L 0 6 Z' }));
    s.append(this.cursorEl);
    this._drawCursor();
  }

  _drawAxis(width) {
    const spanS = (this.end - this.start) / 1000;
    const step = STEPS.find((st) => (st / spanS) * width >= MIN_TICK_PX) ?? STEPS.at(-1);
    // Ticks on local-time boundaries: count from the local midnight before the window.
    const midnight = new Date(this.start);
    midnight.setHours(0, 0, 0, 0);
    const first = midnight.getTime() + Math.ceil((this.start - midnight) / (step * 1000)) * step * 1000;
    const nowX = this.xOf(new Date());
    const group = svg('g', { class: 'tl-axis' });
    group.append(svg('line', { x1: 0, x2: width, y1: AXIS_Y, y2: AXIS_Y, class: 'tl-axis-line' }));
    for (let t = first; t <= this.end.getTime(); t += step * 1000) {
      const d = new Date(t);
      const x = this.xOf(d);
      const isDay = d.getHours() === 0 && d.getMinutes() === 0 && d.getSeconds() === 0;
      group.append(svg('line', { x1: x, x2: x, y1: AXIS_Y, y2: AXIS_Y + (isDay ? 8 : 5),
        class: isDay ? 'tl-tick tl-tick-day' : 'tl-tick' }));
      const label = isDay ? formatDay(d) : formatClock(d, { seconds: step < 60 });
      if (x > 20 && x < width - 20 && Math.abs(x - nowX) > NOW_LABEL_PX) {
        group.append(svg('text', { x, y: HEIGHT - 4, 'text-anchor': 'middle',
          class: isDay ? 'tl-label tl-label-day' : 'tl-label' }, document.createTextNode(label)));
      }
    }
    this.svg.append(group);
  }

  _drawCursor() {
    if (!this.cursorEl) return;
    const x = this.cursor ? this.xOf(this.cursor) : -1;
    const visible = this.cursor && x >= 0 && x <= this.width;
    this.cursorEl.style.display = visible ? '' : 'none';
    if (visible) this.cursorEl.setAttribute('transform', `translate(${x},0)`);
  }

  _x(e) {
    return e.clientX - this.svg.getBoundingClientRect().left;
  }

  _down(e) {
    if (e.button !== 0) return;
    this.svg.setPointerCapture(e.pointerId);
    this._drag = { x0: this._x(e), moved: false };
  }

  _move(e) {
    const x = this._x(e);
    this._showHover(x);
    if (!this._drag) return;
    if (Math.abs(x - this._drag.x0) >= DRAG_PX) this._drag.moved = true;
    if (this._drag.moved) this.setSelection(this._span(this._drag.x0, x));
  }

  _up(e) {
    const drag = this._drag;
    this._drag = null;
    if (!drag) return;
    const x = this._x(e);
    if (drag.moved) {
      const [a, b] = this._span(drag.x0, x);
      this.onSelect(a, b);
    } else {
      this.onSeek(this.timeAt(x));
    }
  }

  _span(xa, xb) {
    const a = this.timeAt(Math.min(xa, xb));
    const b = this.timeAt(Math.max(xa, xb));
    return [a, b];
  }

  _showHover(x) {
    const t = this.timeAt(x);
    const gap = this.gaps.find((g) => g.start <= t && t < g.end);
    const recorded = this.ranges.some((r) => r.start <= t && t < r.end);
    let text = formatDateTime(t);
    if (gap) text += ` · ${gapText(gap)}`;
    else if (!recorded) text += ' · not recorded';
    this.tooltip.textContent = text;
    this.tooltip.hidden = this.hoverLine.hidden = false;
    this.hoverLine.style.left = `${x}px`;
    const tipWidth = this.tooltip.offsetWidth;
    this.tooltip.style.left = `${Math.min(Math.max(0, x - tipWidth / 2), this.width - tipWidth)}px`;
  }

  _hideHover() {
    this.tooltip.hidden = this.hoverLine.hidden = true;
  }
}

function gapText(gap) {
  const seconds = (gap.end - gap.start) / 1000;
  return `Gap ${formatDuration(seconds)}: ${gap.reason || 'reason unknown'}`;
}

function h(tag, className) {
  const el = document.createElement(tag);
  el.className = className;
  return el;
}
