// Forensic search (#/search?since=&until=&camera_id=&type=&class_name=&zone=&colour=&kind=):
// events and tracks by time, cameras, event type, object class, zone and dominant colour,
// shown as thumbnails. A hit opens the camera's playback a few seconds before it
// (#/camera/{id}?at=ISO). The filters live in the hash, so a search can be linked and reloaded.

import { api } from './api.js';
import { store } from './store.js';
import { formatDateTime, fromLocalInput, h, replace, toLocalInput } from './ui.js';

// The palette of vigil/analytics/colour.py, in its order, with the swatch shown for each.
export const COLOURS = {
  black: '#111', white: '#f5f5f5', grey: '#8a8f98', red: '#dc2626', orange: '#f97316',
  yellow: '#facc15', green: '#16a34a', blue: '#2563eb', purple: '#7c3aed', pink: '#f472b6',
  brown: '#8b5a2b',
};
export const CLASSES = ['person', 'bicycle', 'car', 'motorcycle', 'bus', 'truck', 'backpack', 'handbag', 'suitcase'];
const EVENT_TYPES = [
  'line_crossing', 'intrusion', 'loitering', 'running', 'crowding', 'occupancy', 'left_object',
  'illegal_dumping', 'parked_vehicle', 'plate.read', 'watchlist.hit', 'vehicle_speed', 'wrong_way',
];
const PAGE = 48;
const DEFAULT_PERIOD_MS = 24 * 3600 * 1000;

/** Mount the search page with the filters of the hash query. */
export function mount(root, { params }) {
  const view = new SearchView(root, params);
  return () => view.destroy();
}

class SearchView {
  constructor(root, params) {
    this.root = root;
    this.abort = new AbortController();
    this.params = params;
    this.offset = Number(params.get('offset') ?? 0) || 0;
    document.title = 'Search · Vigil';
    this.render();
    this.onCameras = () => this.fillCameras();
    store.addEventListener('change', this.onCameras);
    this.run();
  }

  destroy() {
    this.abort.abort();
    store.removeEventListener('change', this.onCameras);
  }

  render() {
    const p = this.params;
    const until = p.get('until') ? new Date(p.get('until')) : null;
    const since = p.get('since') ? new Date(p.get('since')) : new Date(Date.now() - DEFAULT_PERIOD_MS);
    this.since = h('input', { class: 'input', type: 'datetime-local', step: 1, value: toLocalInput(since), dataset: { testid: 'search-since' } });
    this.until = h('input', { class: 'input', type: 'datetime-local', step: 1, value: until ? toLocalInput(until) : '', dataset: { testid: 'search-until' } });
    this.cameraSelect = h('select', { class: 'input search-cameras', multiple: true, size: 4, dataset: { testid: 'search-cameras' }, title: 'Cameras (none selected: all)' });
    this.fillCameras();
    this.kind = select('search-kind', [['all', 'Events and objects'], ['events', 'Events'], ['tracks', 'Objects (tracks)']], p.get('kind') ?? 'all');
    this.type = select('search-type', [['', 'Any event type'], ...EVENT_TYPES.map((t) => [t, t.replace(/_/g, ' ')])], p.get('type') ?? '');
    this.cls = select('search-class', [['', 'Any object'], ...CLASSES.map((c) => [c, c])], p.get('class_name') ?? '');
    this.zone = h('input', { class: 'input input-small', placeholder: 'Zone or line', value: p.get('zone') ?? '', dataset: { testid: 'search-zone' } });
    this.plate = h('input', { class: 'input input-small', placeholder: 'Plate (CA12*)', maxlength: 32, value: p.get('plate') ?? '', dataset: { testid: 'search-plate' }, title: 'A licence plate (near readings too), or a pattern with * and ?' });
    this.colours = new Set(p.getAll('colour'));
    const swatches = Object.entries(COLOURS).map(([name, css]) => h('button', {
      type: 'button', class: `colour-swatch${this.colours.has(name) ? ' active' : ''}`, title: name,
      style: { background: css }, dataset: { testid: `swatch-${name}`, colour: name },
      'aria-pressed': String(this.colours.has(name)),
      onclick: (e) => {
        const on = !this.colours.has(name);
        if (on) this.colours.add(name); else this.colours.delete(name);
        e.currentTarget.classList.toggle('active', on);
        e.currentTarget.setAttribute('aria-pressed', String(on));
      },
    }));
    const form = h('form', { class: 'search-form', dataset: { testid: 'search-form' }, onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      h('label', { class: 'inline-label' }, 'From ', this.since),
      h('label', { class: 'inline-label' }, 'To ', this.until),
      this.cameraSelect, this.kind, this.type, this.cls, this.zone, this.plate,
      h('span', { class: 'colour-swatches', dataset: { testid: 'search-colours' } }, swatches),
      h('button', { class: 'btn btn-primary', type: 'submit', dataset: { testid: 'search-submit' } }, 'Search'));
    this.summary = h('div', { class: 'meta', dataset: { testid: 'search-summary' } });
    this.results = h('div', { class: 'search-results', dataset: { testid: 'search-results' } });
    this.pager = h('div', { class: 'search-pager' });
    replace(this.root, h('div', { class: 'search-view' },
      h('div', { class: 'view-header' }, h('h1', {}, 'Search'), this.heatmapLinks()),
      form, this.summary, this.results, this.pager));
  }

  heatmapLinks() {
    this.heatmapLink = h('a', { class: 'btn btn-small', href: '#/heatmap', dataset: { testid: 'heatmap-link' }, title: 'Where objects moved on a camera' }, 'Heatmap');
    const first = this.params.getAll('camera_id')[0];
    if (first) this.heatmapLink.href = `#/heatmap/${first}`;
    return this.heatmapLink;
  }

  fillCameras() {
    const chosen = new Set([...(this.cameraSelect.selectedOptions ?? [])].map((o) => o.value));
    if (!chosen.size) for (const id of this.params.getAll('camera_id')) chosen.add(id);
    replace(this.cameraSelect, store.cameras.map((c) =>
      h('option', { value: String(c.id), selected: chosen.has(String(c.id)) }, c.name)));
  }

  /** The filters of the form as the API's query (repeated keys for lists). */
  query() {
    const q = new URLSearchParams();
    const since = fromLocalInput(this.since.value);
    const until = fromLocalInput(this.until.value);
    if (since) q.set('since', since.toISOString());
    if (until) q.set('until', until.toISOString());
    for (const o of this.cameraSelect.selectedOptions) q.append('camera_id', o.value);
    for (const [key, el] of [['kind', this.kind], ['type', this.type], ['class_name', this.cls]]) {
      if (el.value && !(key === 'kind' && el.value === 'all')) q.set(key, el.value);
    }
    if (this.zone.value.trim()) q.set('zone', this.zone.value.trim());
    if (this.plate.value.trim()) q.set('plate', this.plate.value.trim());
    for (const c of this.colours) q.append('colour', c);
    return q;
  }

  submit(offset = 0) {
    const q = this.query();
    if (offset) q.set('offset', String(offset));
    const hash = `#/search${q.toString() ? `?${q}` : ''}`;
    if (location.hash === hash) this.run(); else location.hash = hash;
  }

  async run() {
    const q = this.query();
    q.set('limit', String(PAGE));
    q.set('offset', String(this.offset));
    this.summary.textContent = 'Searching…';
    let page;
    try {
      page = await api(`/api/search?${q}`, { signal: this.abort.signal });
    } catch (err) {
      if (err.name === 'AbortError') return;
      const fields = Object.entries(err.fields ?? {}).map(([f, m]) => `${f}: ${m}`).join('; ');
      this.summary.textContent = '';
      replace(this.results, h('div', { class: 'banner error', dataset: { testid: 'search-error' } }, fields || err.message));
      replace(this.pager);
      return;
    }
    const last = Math.min(this.offset + page.items.length, page.total);
    this.summary.textContent = page.total
      ? `${page.more ? `more than ${page.total}` : page.total} found; ${this.offset + 1}–${last}, newest first`
      : 'Nothing found for these filters.';
    this.summary.dataset.total = String(page.total);
    replace(this.results, page.items.map((hit) => this.card(hit)));
    replace(this.pager,
      this.offset > 0 ? h('button', { class: 'btn', dataset: { testid: 'search-prev' }, onclick: () => this.submit(Math.max(0, this.offset - PAGE)) }, 'Newer') : null,
      last < page.total || page.more ? h('button', { class: 'btn', dataset: { testid: 'search-next' }, onclick: () => this.submit(this.offset + PAGE) }, 'Older') : null);
  }

  card(hit) {
    const what = hit.kind === 'event'
      ? [hit.type?.replace(/_/g, ' '), hit.class_name].filter(Boolean).join(' · ')
      : hit.class_name ?? 'object';
    const where = hit.zone ?? (hit.zones?.length ? hit.zones.join(', ') : null);
    const image = hit.thumbnail_url
      ? h('img', { src: hit.thumbnail_url, alt: what, loading: 'lazy', dataset: { testid: 'hit-thumbnail' } })
      : h('div', { class: 'hit-noimage' }, 'no image');
    const open = () => {
      if (!hit.playback) return;
      location.hash = `#/camera/${hit.playback.camera_id}?at=${encodeURIComponent(hit.playback.start)}`;
    };
    return h('button', {
      type: 'button', class: 'search-hit', onclick: open, disabled: !hit.playback,
      title: hit.playback ? 'Play the recording from a few seconds before' : 'Not from a camera',
      dataset: { testid: 'search-hit', kind: hit.kind, id: hit.id },
    },
    image,
    h('span', { class: 'hit-time', dataset: { testid: 'hit-time' } }, formatDateTime(hit.at)),
    h('span', { class: 'hit-camera' }, hit.camera_name ?? (hit.camera_id != null ? `camera ${hit.camera_id}` : '—')),
    h('span', { class: 'hit-what', dataset: { testid: 'hit-what' } },
      hit.colour ? h('i', { class: 'colour-dot', title: hit.colour, style: { background: COLOURS[hit.colour] ?? 'transparent' }, dataset: { testid: 'hit-colour', colour: hit.colour } }) : null,
      what, where ? h('span', { class: 'meta' }, ` in ${where}`) : null));
  }
}

function select(testid, options, value) {
  return h('select', { class: 'input', dataset: { testid } },
    options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}
