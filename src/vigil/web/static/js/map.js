// The map: cameras as pins with their field of view, on a site plan (an uploaded picture)
// or on the street map (tiles relayed by the server from the configured tile server,
// drawn with Leaflet). Click a pin: its live view opens beside the map. A camera with an
// open alarm flashes. Administrators upload plans and place cameras: pick one in the list,
// then click where it stands; its heading and field of view are set beside.
//   #/map?view=street | #/map?view=plan-{id}

import { alarms as alarmsApi, map as mapApi, siteOf } from './api.js';
import { svg } from './draw-surface.js';
import { LivePlayer } from './live-player.js';
import { P, session } from './session.js';
import { alarmStore, store } from './store.js';
import { h, promptDialog, replace, statusLabel, toast } from './ui.js';

const LEAFLET = '../vendor/leaflet/leaflet-src.esm.js';
const LEAFLET_CSS = '/static/vendor/leaflet/leaflet.css';
const DEFAULT_FOV = 60; // degrees, for a camera placed without one
const DEFAULT_RANGE_M = 40; // how far a cone reaches on the street map by default
const PLAN_CONE = 0.08; // a cone's length on a plan, as a fraction of the plan's longer side
const OPEN_STATES = 'open';

export function mount(root, { params }) {
  const view = new MapView(root, params);
  return () => view.destroy();
}

class MapView {
  constructor(root, params) {
    this.root = root;
    this.viewKey = params.get('view') ?? localStorage.getItem('vigil.map'); // the last one shown
    this.config = null;
    this.selected = null; // camera id whose live view is open
    this.placing = null; // camera id an administrator is placing
    this.alarmed = new Set(); // camera ids with an open alarm
    this.player = null;
    this.surface = null; // PlanSurface or StreetSurface
    this.destroyed = false;

    this.viewSelect = h('select', { dataset: { testid: 'map-view' }, onchange: () => this.open(this.viewSelect.value) });
    this.addPlanButton = session.can(P.MANAGE)
      ? h('button', { class: 'btn btn-small', dataset: { testid: 'map-add-plan' }, onclick: () => this.addPlan() }, 'Add plan')
      : null;
    this.fileInput = h('input', { type: 'file', accept: 'image/png,image/jpeg,image/webp', hidden: true,
      dataset: { testid: 'map-plan-file' }, onchange: () => this.upload() });
    this.area = h('div', { class: 'map-area', dataset: { testid: 'map-area' } });
    this.side = h('aside', { class: 'map-side', dataset: { testid: 'map-side' } });
    replace(root, h('div', { class: 'map-view' },
      h('div', { class: 'view-header' }, h('h1', {}, 'Map'), this.viewSelect, h('span', { class: 'spacer' }),
        this.addPlanButton, this.fileInput),
      h('div', { class: 'map-body' }, this.area, this.side)));

    this.onStore = () => this.render();
    store.addEventListener('change', this.onStore);
    this.onAlarm = ({ detail }) => this.alarmChanged(detail);
    alarmStore.addEventListener('alarm', this.onAlarm);
    this.load();
  }

  destroy() {
    this.destroyed = true;
    store.removeEventListener('change', this.onStore);
    alarmStore.removeEventListener('alarm', this.onAlarm);
    this.player?.stop();
    this.surface?.destroy();
  }

  async load() {
    try {
      this.config = await mapApi.get();
      await this.loadAlarms();
    } catch (err) {
      replace(this.area, h('div', { class: 'empty error-text' }, `The map cannot be loaded: ${err.message}`));
      return;
    }
    if (this.destroyed) return;
    this.open(this.viewKey ?? this.views()[0]?.key ?? null);
  }

  /** The views this installation has: the street map when a tile server is set, and each plan. */
  views() {
    const views = [];
    if (this.config?.street) views.push({ key: 'street', label: 'Street map' });
    for (const plan of this.config?.plans ?? []) views.push({ key: `plan-${plan.id}`, label: plan.name, plan });
    return views;
  }

  async loadAlarms() {
    const page = await alarmsApi.list({ state: OPEN_STATES, limit: 500 });
    this.alarmed = new Set(page.items.map((a) => a.camera_id).filter((id) => id != null));
  }

  alarmChanged(detail) {
    if (detail.camera_id == null) return;
    if (detail.change === 'raised' || detail.change === 'repeated') {
      this.alarmed.add(detail.camera_id);
      this.render();
    } else if (detail.state === 'closed' || detail.change === 'resolved') {
      // Another alarm of the camera may still be open: ask again.
      this.loadAlarms().then(() => this.render(), () => {});
    }
  }

  open(key) {
    const views = this.views();
    const chosen = views.find((v) => v.key === key) ?? views[0] ?? null;
    replace(this.viewSelect, views.map((v) => h('option', { value: v.key, selected: v.key === chosen?.key }, v.label)));
    this.viewSelect.hidden = views.length === 0;
    this.surface?.destroy();
    this.surface = null;
    this.placing = null;
    if (!chosen) {
      replace(this.area, h('div', { class: 'empty', dataset: { testid: 'map-empty' } }, session.can(P.MANAGE)
        ? 'No map yet: add a site plan (a floor or area drawing), or set map.tile_url to a tile server for the street map.'
        : 'No map has been set up yet.'));
      this.renderSide();
      return;
    }
    this.viewKey = chosen.key;
    localStorage.setItem('vigil.map', chosen.key);
    history.replaceState(null, '', `#/map?view=${chosen.key}`);
    const handlers = { pick: (id) => this.select(id), place: (where) => this.placeAt(where) };
    this.surface = chosen.plan
      ? new PlanSurface(this.area, chosen.plan, handlers)
      : new StreetSurface(this.area, this.config.street, handlers);
    this.render();
  }

  /** Whether a camera is placed on the view shown. */
  onView(camera) {
    const p = camera.position;
    if (!p || !this.surface) return false;
    return this.surface.plan ? p.plan_id === this.surface.plan.id : p.latitude != null;
  }

  render() {
    if (!this.surface) return;
    const placed = store.cameras.filter((c) => this.onView(c));
    this.surface.draw(placed, { alarmed: this.alarmed, selected: this.selected });
    this.renderSide();
  }

  renderSide() {
    const manage = session.can(P.MANAGE);
    const cameras = store.cameras.filter((c) => !siteOf(c)); // a site's cameras are placed there
    const placed = cameras.filter((c) => this.onView(c));
    const others = manage ? cameras.filter((c) => !this.onView(c)) : [];
    const selected = store.get(this.selected);
    const row = (camera) => h('li', { class: 'map-camera', dataset: { testid: 'map-camera', cameraId: camera.id } },
      h('span', { class: `dot status-${camera.health.status}` }),
      h('a', { href: '#', onclick: (e) => { e.preventDefault(); this.select(camera.id); } }, camera.name),
      manage && this.surface
        ? h('button', { class: `btn btn-small${this.placing === camera.id ? ' active' : ''}`, dataset: { testid: 'map-place' },
            title: 'Then click where it stands', onclick: () => this.startPlacing(camera.id) }, this.placing === camera.id ? 'Click the map…' : 'Place')
        : null);
    this.liveBox ??= h('div', { class: 'map-live' });
    replace(this.side,
      selected ? this.liveBox : h('p', { class: 'meta' }, 'Click a camera on the map to see it live.'),
      selected && manage && this.onView(selected) ? this.directionForm(selected) : null,
      h('h2', {}, 'On this map'),
      placed.length ? h('ul', { class: 'map-cameras' }, placed.map(row)) : h('p', { class: 'meta' }, 'No camera placed here yet.'),
      others.length ? [h('h2', {}, 'Not placed here'), h('ul', { class: 'map-cameras' }, others.map(row))] : null);
  }

  /** Open a camera's live view beside the map. */
  select(id) {
    const camera = store.get(id);
    if (!camera) return;
    if (this.selected !== id || !this.player) {
      this.player?.stop();
      const video = h('video', { muted: true, playsInline: true, autoplay: true, dataset: { testid: 'map-live-video' } });
      const overlay = h('div', { class: 'video-overlay', hidden: true });
      replace(this.liveBox ??= h('div', { class: 'map-live' }),
        h('div', { class: 'map-live-title' },
          h('strong', { dataset: { testid: 'map-live-name' } }, camera.name),
          h('span', { class: 'meta' }, camera.health.status === 'online' ? '' : statusLabel(camera.health.status)),
          h('a', { href: `#/camera/${camera.id}` }, 'Open camera')),
        h('div', { class: 'map-live-video' }, video, overlay));
      this.player = new LivePlayer(video, { cameraId: camera.id, overlay, stream: 'sub' });
      this.player.setHealth(camera.health);
      this.player.start();
    }
    this.selected = id;
    this.render();
  }

  startPlacing(id) {
    this.placing = this.placing === id ? null : id;
    this.surface?.setPlacing(this.placing !== null);
    this.renderSide();
  }

  /** Place the camera being placed where the map was clicked ({plan_id, x, y} or {latitude, longitude}). */
  async placeAt(where) {
    const camera = store.get(this.placing);
    if (!camera) return;
    const before = camera.position ?? {};
    const position = { ...before, ...where };
    if (position.heading == null) position.heading = 0;
    if (position.fov == null) position.fov = DEFAULT_FOV;
    await this.save(camera, position);
    this.placing = null;
    this.surface?.setPlacing(false);
    this.select(camera.id);
  }

  async save(camera, position) {
    try {
      const saved = await mapApi.place(camera.id, withoutNulls(position));
      store.byId.set(camera.id, { ...camera, position: saved });
      this.render();
    } catch (err) {
      toast(`${camera.name} cannot be placed: ${err.message}`, 'error');
    }
  }

  directionForm(camera) {
    const p = camera.position ?? {};
    const heading = h('input', { type: 'number', min: 0, max: 359, step: 5, value: p.heading ?? 0, dataset: { testid: 'map-heading' } });
    const fov = h('input', { type: 'number', min: 1, max: 360, step: 5, value: p.fov ?? DEFAULT_FOV, dataset: { testid: 'map-fov' } });
    const apply = () => this.save(camera, { ...p, heading: Number(heading.value) % 360, fov: Number(fov.value) });
    heading.addEventListener('change', apply);
    fov.addEventListener('change', apply);
    const remove = async () => {
      const rest = this.surface?.plan ? { ...p, plan_id: null, x: null, y: null } : { ...p, latitude: null, longitude: null };
      try {
        if (rest.latitude == null && rest.plan_id == null) {
          await mapApi.unplace(camera.id);
          store.byId.set(camera.id, { ...camera, position: null });
        } else {
          const saved = await mapApi.place(camera.id, withoutNulls(rest));
          store.byId.set(camera.id, { ...camera, position: saved });
        }
        this.render();
      } catch (err) {
        toast(`${camera.name} cannot be taken off the map: ${err.message}`, 'error');
      }
    };
    return h('div', { class: 'map-direction' },
      h('label', {}, 'Heading ', heading, '°'), h('label', {}, 'Field of view ', fov, '°'),
      h('button', { class: 'btn btn-small', dataset: { testid: 'map-unplace' }, onclick: remove }, 'Remove from this map'));
  }

  addPlan() {
    this.fileInput.value = '';
    this.fileInput.click();
  }

  async upload() {
    const file = this.fileInput.files?.[0];
    if (!file) return;
    const name = await promptDialog('Name of the plan (e.g. "Central station, ground floor")', {
      value: file.name.replace(/\.[^.]+$/, ''), ok: 'Add plan',
    });
    if (!name) return;
    try {
      const plan = await mapApi.addPlan(name, file);
      this.config = await mapApi.get();
      this.open(`plan-${plan.id}`);
      toast(`Plan "${plan.name}" added: place cameras on it from the list`, 'ok');
    } catch (err) {
      toast(`The plan cannot be added: ${err.message}`, 'error');
    }
  }
}

function withoutNulls(position) {
  return Object.fromEntries(Object.entries(position).filter(([, v]) => v !== null && v !== undefined));
}

/** A pin's classes and data, the same on both surfaces. */
function pinState(camera, { alarmed, selected }) {
  return {
    classes: ['map-pin', `status-${camera.health.status}`, alarmed.has(camera.id) ? 'alarm' : '', selected === camera.id ? 'selected' : ''].filter(Boolean),
    title: `${camera.name}${alarmed.has(camera.id) ? ': open alarm' : ''}`,
  };
}

/** A site plan: its picture with an SVG layer in the picture's own pixels. */
class PlanSurface {
  constructor(area, plan, { pick, place }) {
    this.plan = plan;
    this.pick = pick;
    this.place = place;
    this.layer = svg('svg', { class: 'plan-layer', viewBox: `0 0 ${plan.width} ${plan.height}`, preserveAspectRatio: 'xMidYMid meet' });
    this.layer.dataset.testid = 'plan-layer';
    this.image = h('img', { class: 'plan-image', src: mapApi.planImageUrl(plan.id), alt: plan.name, draggable: false });
    this.el = h('div', { class: 'plan-surface', dataset: { testid: 'plan-surface', planId: plan.id } }, this.image, this.layer);
    this.layer.addEventListener('click', (e) => this.clicked(e));
    replace(area, this.el);
  }

  destroy() {
    this.el.remove();
  }

  setPlacing(on) {
    this.el.classList.toggle('placing', on);
  }

  clicked(e) {
    if (!this.el.classList.contains('placing')) return;
    const point = this.layer.createSVGPoint();
    point.x = e.clientX;
    point.y = e.clientY;
    const at = point.matrixTransform(this.layer.getScreenCTM().inverse());
    const x = Math.min(1, Math.max(0, at.x / this.plan.width));
    const y = Math.min(1, Math.max(0, at.y / this.plan.height));
    this.place({ plan_id: this.plan.id, x: round(x), y: round(y) });
  }

  draw(cameras, state) {
    const side = Math.max(this.plan.width, this.plan.height);
    const r = side * 0.012;
    this.layer.replaceChildren(...cameras.map((camera) => {
      const p = camera.position;
      const cx = p.x * this.plan.width;
      const cy = p.y * this.plan.height;
      const { classes, title } = pinState(camera, state);
      const pin = svg('g', { class: classes.join(' '), tabindex: '0', role: 'button' });
      Object.assign(pin.dataset, { testid: 'map-pin', cameraId: String(camera.id), alarm: String(state.alarmed.has(camera.id)) });
      if (p.heading != null) pin.append(svg('path', { class: 'cone', d: conePath(cx, cy, side * PLAN_CONE, p.heading, p.fov ?? DEFAULT_FOV) }));
      pin.append(svg('circle', { class: 'pin-dot', cx, cy, r }));
      const label = svg('text', { x: cx + r * 1.5, y: cy + r * 2.2, class: 'pin-label', 'font-size': r * 1.15 });
      label.textContent = camera.name;
      const tip = svg('title');
      tip.textContent = title;
      pin.append(label, tip);
      const choose = (e) => { e.stopPropagation(); this.pick(camera.id); };
      pin.addEventListener('click', choose);
      pin.addEventListener('keydown', (e) => { if (e.key === 'Enter') choose(e); });
      return pin;
    }));
  }
}

/** A field-of-view wedge in SVG coordinates (y down): heading clockwise from up. */
function conePath(cx, cy, length, heading, fov) {
  if (fov >= 360) return `M ${cx - length} ${cy} a ${length} ${length} 0 1 0 ${2 * length} 0 a ${length} ${length} 0 1 0 ${-2 * length} 0`;
  const a = ((heading - fov / 2) * Math.PI) / 180;
  const b = ((heading + fov / 2) * Math.PI) / 180;
  const [x1, y1] = [cx + length * Math.sin(a), cy - length * Math.cos(a)];
  const [x2, y2] = [cx + length * Math.sin(b), cy - length * Math.cos(b)];
  return `M ${cx} ${cy} L ${x1} ${y1} A ${length} ${length} 0 ${fov > 180 ? 1 : 0} 1 ${x2} ${y2} Z`;
}

const round = (v) => Math.round(v * 10000) / 10000;

/** The street map: Leaflet with the server's tiles, a marker and a cone per camera. */
class StreetSurface {
  constructor(area, street, { pick, place }) {
    this.plan = null;
    this.pick = pick;
    this.place = place;
    this.placing = false;
    this.el = h('div', { class: 'street-surface', dataset: { testid: 'street-surface' } });
    replace(area, this.el);
    this.layers = [];
    this.pending = null;
    this.fitted = false;
    this.ready = loadLeaflet().then((L) => {
      if (!this.el.isConnected) return;
      this.L = L;
      this.map = L.map(this.el, { center: street.center, zoom: street.zoom, maxZoom: street.max_zoom });
      L.tileLayer(street.tiles, { maxZoom: street.max_zoom, attribution: escapeText(street.attribution) }).addTo(this.map);
      this.map.on('click', (e) => {
        if (this.placing) this.place({ latitude: round6(e.latlng.lat), longitude: round6(e.latlng.lng) });
      });
      if (this.pending) this.draw(...this.pending);
    }, (err) => replace(this.el, h('div', { class: 'empty error-text' }, `The street map cannot be shown: ${err.message}`)));
  }

  destroy() {
    this.map?.remove();
    this.el.remove();
  }

  setPlacing(on) {
    this.placing = on;
    this.el.classList.toggle('placing', on);
  }

  draw(cameras, state) {
    if (!this.map) {
      this.pending = [cameras, state];
      return;
    }
    const L = this.L;
    for (const layer of this.layers) layer.remove();
    this.layers = [];
    const points = [];
    for (const camera of cameras) {
      const p = camera.position;
      const at = [p.latitude, p.longitude];
      points.push(at);
      const { classes, title } = pinState(camera, state);
      if (p.heading != null) {
        const cone = L.polygon(streetCone(at, p.range_m ?? DEFAULT_RANGE_M, p.heading, p.fov ?? DEFAULT_FOV),
          { className: `map-cone${state.alarmed.has(camera.id) ? ' alarm' : ''}`, interactive: false });
        this.layers.push(cone.addTo(this.map));
      }
      const icon = L.divIcon({
        className: classes.join(' '),
        html: `<span class="pin-dot" data-testid="map-pin" data-camera-id="${camera.id}" data-alarm="${state.alarmed.has(camera.id)}"></span><span class="pin-label"></span>`,
        iconSize: [16, 16],
        iconAnchor: [8, 8],
      });
      const marker = L.marker(at, { icon, title, keyboard: true }).addTo(this.map);
      marker.getElement()?.querySelector('.pin-label')?.append(camera.name);
      marker.on('click', () => this.pick(camera.id));
      this.layers.push(marker);
    }
    if (!this.fitted && points.length) {
      this.fitted = true;
      this.map.fitBounds(points, { padding: [40, 40], maxZoom: 18 });
    }
  }
}

/** A field-of-view wedge as latitude/longitude points (a local flat approximation). */
function streetCone([lat, lon], range, heading, fov) {
  const metresPerDegLat = 111320;
  const metresPerDegLon = 111320 * Math.cos((lat * Math.PI) / 180);
  const steps = Math.max(2, Math.ceil(fov / 10));
  const points = fov >= 360 ? [] : [[lat, lon]];
  for (let i = 0; i <= steps; i++) {
    const bearing = ((heading - fov / 2 + (fov * i) / steps) * Math.PI) / 180;
    points.push([lat + (range * Math.cos(bearing)) / metresPerDegLat, lon + (range * Math.sin(bearing)) / metresPerDegLon]);
  }
  return points;
}

const round6 = (v) => Math.round(v * 1e6) / 1e6;

function escapeText(text) {
  const span = document.createElement('span');
  span.textContent = text ?? '';
  return span.innerHTML;
}

let leaflet = null;

/** Leaflet and its style sheet, loaded the first time the street map is shown. */
function loadLeaflet() {
  if (!document.querySelector(`link[href="${LEAFLET_CSS}"]`)) {
    document.head.append(h('link', { rel: 'stylesheet', href: LEAFLET_CSS }));
  }
  leaflet ??= import(LEAFLET);
  return leaflet;
}
