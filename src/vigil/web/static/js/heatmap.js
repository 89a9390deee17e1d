// Heatmap of a camera (#/heatmap/{id}?since=&until=&classes=): where people or vehicles
// moved over a period, a transparent overlay from GET /api/cameras/{id}/heatmap laid over the
// camera's latest snapshot (a dark background when the camera has no frame to show).

import { api, snapshotUrl } from './api.js';
import { CLASSES } from './search.js';
import { fromLocalInput, h, replace, toLocalInput } from './ui.js';
import { store } from './store.js';

const PERIODS = [
  { key: '1h', label: '1 h', ms: 3600e3 },
  { key: '24h', label: '24 h', ms: 24 * 3600e3 },
  { key: '7d', label: '7 days', ms: 7 * 24 * 3600e3 },
];
const DEFAULT_CLASSES = ['person', 'car'];

/** Mount the heatmap page of camera `id` (or a camera picker without one). */
export function mount(root, { id = null, params }) {
  const view = new HeatmapView(root, id ? Number(id) : null, params);
  return () => view.destroy();
}

class HeatmapView {
  constructor(root, cameraId, params) {
    this.root = root;
    this.cameraId = cameraId;
    this.abort = new AbortController();
    const until = params.get('until') ? new Date(params.get('until')) : new Date();
    const since = params.get('since') ? new Date(params.get('since')) : new Date(until - PERIODS[1].ms);
    const classes = params.get('classes');
    this.classes = new Set(classes !== null ? classes.split(',').filter(Boolean) : DEFAULT_CLASSES);
    document.title = 'Heatmap · Vigil';
    this.render(since, until);
    this.onCameras = () => this.fillCameras();
    store.addEventListener('change', this.onCameras);
    if (cameraId !== null) this.load();
  }

  destroy() {
    this.abort.abort();
    store.removeEventListener('change', this.onCameras);
  }

  render(since, until) {
    this.cameraSelect = h('select', { class: 'input', dataset: { testid: 'heatmap-camera' },
      onchange: () => { location.hash = `#/heatmap/${this.cameraSelect.value}${this.hashQuery()}`; } });
    this.fillCameras();
    this.since = h('input', { class: 'input', type: 'datetime-local', step: 1, value: toLocalInput(since), dataset: { testid: 'heatmap-since' } });
    this.until = h('input', { class: 'input', type: 'datetime-local', step: 1, value: toLocalInput(until), dataset: { testid: 'heatmap-until' } });
    const presets = h('span', { class: 'btn-group' }, PERIODS.map((p) => h('button', {
      type: 'button', class: 'btn btn-small', dataset: { testid: `heatmap-last-${p.key}` },
      onclick: () => {
        const now = new Date();
        this.until.value = toLocalInput(now);
        this.since.value = toLocalInput(new Date(now - p.ms));
        this.apply();
      },
    }, `Last ${p.label}`)));
    const boxes = CLASSES.filter((c) => !['backpack', 'handbag', 'suitcase'].includes(c)).map((c) =>
      h('label', { class: 'field-check' }, h('input', {
        type: 'checkbox', checked: this.classes.has(c), dataset: { testid: `heatmap-class-${c}` },
        onchange: (e) => { if (e.target.checked) this.classes.add(c); else this.classes.delete(c); },
      }), ` ${c}`));
    const form = h('form', { class: 'search-form', onsubmit: (e) => { e.preventDefault(); this.apply(); } },
      this.cameraSelect,
      h('label', { class: 'inline-label' }, 'From ', this.since),
      h('label', { class: 'inline-label' }, 'To ', this.until),
      presets, boxes,
      h('button', { class: 'btn btn-primary', type: 'submit', dataset: { testid: 'heatmap-apply' } }, 'Show'));
    this.info = h('div', { class: 'meta', dataset: { testid: 'heatmap-info' } },
      this.cameraId === null ? 'Choose a camera.' : '');
    this.snapshot = h('img', { class: 'heatmap-snapshot', alt: '', dataset: { testid: 'heatmap-snapshot' } });
    this.overlay = h('img', { class: 'heatmap-overlay', alt: 'heatmap', dataset: { testid: 'heatmap-overlay' } });
    this.stage = h('div', { class: 'heatmap-stage', dataset: { testid: 'heatmap-stage' } }, this.snapshot, this.overlay);
    replace(this.root, h('div', { class: 'heatmap-view' },
      h('div', { class: 'view-header' }, h('h1', {}, 'Heatmap'),
        h('a', { class: 'btn btn-small', href: '#/search' }, 'Search')),
      form, this.info, this.cameraId === null ? null : this.stage));
  }

  fillCameras() {
    const current = this.cameraId === null ? '' : String(this.cameraId);
    replace(this.cameraSelect,
      this.cameraId === null ? h('option', { value: '' }, 'Camera…') : null,
      store.cameras.map((c) => h('option', { value: String(c.id), selected: String(c.id) === current }, c.name)));
  }

  hashQuery() {
    const q = new URLSearchParams();
    const since = fromLocalInput(this.since.value);
    const until = fromLocalInput(this.until.value);
    if (since) q.set('since', since.toISOString());
    if (until) q.set('until', until.toISOString());
    q.set('classes', [...this.classes].join(','));
    return `?${q}`;
  }

  apply() {
    if (this.cameraId === null) return;
    const hash = `#/heatmap/${this.cameraId}${this.hashQuery()}`;
    if (location.hash === hash) this.load(); else location.hash = hash;
  }

  async load() {
    const query = this.hashQuery();
    const base = `/api/cameras/${this.cameraId}/heatmap${query}`;
    // The snapshot shows the scene; without one (503) the heatmap stays on a dark stage.
    this.stage.classList.remove('no-snapshot');
    this.snapshot.onerror = () => { this.stage.classList.add('no-snapshot'); this.snapshot.hidden = true; };
    this.snapshot.onload = () => { this.snapshot.hidden = false; };
    this.snapshot.src = `${snapshotUrl(this.cameraId)}?t=${Date.now()}`;
    this.info.textContent = 'Loading…';
    try {
      const grid = await api(`${base}&format=json`, { signal: this.abort.signal });
      this.stage.style.aspectRatio = `${grid.width} / ${grid.height}`;
      this.info.textContent = grid.tracks
        ? `${grid.tracks} track(s) of ${[...this.classes].join(', ') || 'all classes'}`
        : 'Nothing moved in this period.';
      this.info.dataset.tracks = String(grid.tracks);
      this.overlay.src = `${base}&format=png`;
    } catch (err) {
      if (err.name === 'AbortError') return;
      const fields = Object.values(err.fields ?? {}).join('; ');
      this.info.textContent = fields || err.message;
      this.overlay.removeAttribute('src');
    }
  }
}
