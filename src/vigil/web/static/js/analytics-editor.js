// The analytics editor (#/camera/{id}/analytics): zones and counting lines drawn on the
// camera's live snapshot, behaviours on them, and how the pipeline runs (stream, rate,
// detector). Coordinates are normalised (0..1 across the image, y down), as the server
// stores them. The server validates; its messages appear next to what they name
// ("zones.0.points" marks that zone, "behaviours.2" that behaviour).
//
// Drawing: "Draw zone", then click the corners; click the first corner (or the last one again,
// or press Enter) to close it. "Draw line": click its two ends; objects cross it "in" from the
// left of start->end to its right (the arrow), "Flip" reverses it. In select mode drag a corner
// or a whole shape; double-click a corner to remove it; Delete removes the selected shape.

import { analytics as analyticsApi, api, snapshotUrl, timeProfiles } from './api.js';
import { DrawSurface, SAME_PX, dragPoints, handle, label, rounded, svg, uniqueName } from './draw-surface.js';
import { schemaField, schemaFields, widgetOf } from './schema-form.js';
import { store } from './store.js';
import { h, isShortcut, replace, toast } from './ui.js';

const NAME_PATTERN = /^[A-Za-z0-9 _.-]{1,60}$/;
// Top-level fields that have a place in the form for the server's messages.
const PLACED = ['enabled', 'stream', 'fps', 'detector', 'motion', 'record_pre_s', 'record_post_s', 'zones', 'lines', 'behaviours'];
const FALLBACK_DETECTORS = ['centernet', 'nanodet', 'motion'];
const CLASSES = ['person', 'bicycle', 'car', 'motorcycle', 'bus', 'truck', 'backpack', 'handbag', 'suitcase'];
const ZONE_COLOURS = ['#f59e0b', '#22c55e', '#a78bfa', '#f472b6', '#2dd4bf', '#fb923c'];
const LINE_COLOUR = '#38bdf8';
// Option types the settings can edit (a detector's list options, such as its classes, are not).
const EDITABLE = ['number', 'integer', 'boolean', 'string'];

// A behaviour's own fields are drawn from its schema (GET /api/analytics/behaviours, declared
// once in its module on the server); these, common to all, have their own inputs.
const COMMON_BEHAVIOUR_FIELDS = ['name', 'classes', 'time_profile_id'];

export function mount(root, { id }) {
  const editor = new AnalyticsEditor(root, Number(id));
  return () => editor.destroy();
}

class AnalyticsEditor {
  constructor(root, cameraId) {
    this.id = cameraId;
    this.config = null; // the configuration being edited (as the API returns it)
    this.profiles = [];
    this.detectors = FALLBACK_DETECTORS.map((key) => ({ key, available: true, reason: null }));
    this.behaviourKinds = {}; // type -> { key, label, events, options (JSON schema) }
    this.errors = new Map(); // field path -> the server's message
    this.mode = 'select'; // select | zone | line
    this.draft = []; // points of the zone or line being drawn (normalised)
    this.hover = null; // the pointer while drawing (normalised)
    this.selected = null; // { kind: 'zones' | 'lines', index }
    this.drag = null;
    this.dirty = false;

    this.title = h('h1', {}, `Analytics · camera ${cameraId}`);
    this.dirtyMark = h('span', { class: 'meta', dataset: { testid: 'analytics-dirty' } });
    this.saveButton = h('button', { class: 'btn btn-primary', dataset: { testid: 'analytics-save' },
      onclick: () => this.save() }, 'Save');
    this.formError = h('div', { class: 'banner error', hidden: true, dataset: { testid: 'analytics-error' } });
    this.modeButtons = {
      select: h('button', { class: 'btn btn-small', dataset: { testid: 'mode-select' }, onclick: () => this.setMode('select') }, 'Select'),
      zone: h('button', { class: 'btn btn-small', dataset: { testid: 'draw-zone' }, onclick: () => this.setMode('zone') }, '+ Draw zone'),
      line: h('button', { class: 'btn btn-small', dataset: { testid: 'draw-line' }, onclick: () => this.setMode('line') }, '+ Draw line'),
    };
    this.closeZoneButton = h('button', { class: 'btn btn-small', dataset: { testid: 'close-zone' }, hidden: true,
      onclick: () => this.closeZone() }, 'Close zone');
    this.hint = h('span', { class: 'hint', dataset: { testid: 'draw-hint' } });
    this.canvas = new DrawSurface('analytics', () => this.draw());
    ({ svg: this.svg, surface: this.surface, stage: this.stage } = this.canvas);

    this.settingsBox = h('div');
    this.shapesBox = h('div');
    this.behavioursBox = h('div');
    this.addType = h('select', { class: 'input input-small', dataset: { testid: 'add-behaviour-type' } });

    replace(root, h('div', { class: 'analytics-view', dataset: { testid: 'analytics-editor', cameraId } },
      h('div', { class: 'view-header' },
        h('a', { href: `#/camera/${cameraId}`, class: 'btn btn-small' }, '← Camera'),
        this.title, this.dirtyMark, h('span', { class: 'spacer' }), this.saveButton),
      h('div', { class: 'analytics-body' },
        h('section', { class: 'analytics-main' },
          h('div', { class: 'controls' },
            h('span', { class: 'btn-group' }, Object.values(this.modeButtons)), this.closeZoneButton,
            h('button', { class: 'btn btn-small', dataset: { testid: 'refresh-snapshot' }, onclick: () => this.loadSnapshot() }, 'Refresh snapshot'),
            h('span', { class: 'spacer' }), this.hint),
          this.stage),
        h('aside', { class: 'analytics-side' },
          this.formError,
          h('section', { class: 'panel' }, h('h2', {}, 'Pipeline'), this.settingsBox),
          h('section', { class: 'panel' }, h('h2', {}, 'Zones and lines'), this.shapesBox),
          h('section', { class: 'panel' }, h('h2', {}, 'Behaviours'), this.behavioursBox,
            h('div', { class: 'add-action' }, this.addType,
              h('button', { type: 'button', class: 'btn btn-small', dataset: { testid: 'add-behaviour' },
                onclick: () => this.addBehaviour(this.addType.value) }, '+ Add behaviour')))))));

    this.svg.addEventListener('pointerdown', (e) => this.pointerDown(e));
    this.svg.addEventListener('pointermove', (e) => this.pointerMove(e));
    this.svg.addEventListener('pointerup', (e) => this.pointerUp(e));
    this.svg.addEventListener('pointerleave', () => { this.hover = null; this.draw(); });
    this.svg.addEventListener('dblclick', (e) => this.doubleClick(e));
    this.onKey = (e) => this.key(e);
    document.addEventListener('keydown', this.onKey);
    this.onStore = () => this.renderTitle();
    store.addEventListener('change', this.onStore);

    this.setMode('select');
    this.renderTitle();
    this.load();
    this.loadSnapshot();
  }

  destroy() {
    document.removeEventListener('keydown', this.onKey);
    store.removeEventListener('change', this.onStore);
    this.canvas.destroy();
  }

  renderTitle() {
    const camera = store.get(this.id);
    if (!camera) return;
    this.title.textContent = `Analytics · ${camera.name}`;
    document.title = `Analytics · ${camera.name} · Vigil`;
    this.canvas.shapeOf(camera);
  }

  // Loading ----------------------------------------------------------------------------------

  async load() {
    const [config, profiles, detectors, motionGate, behaviours] = await Promise.allSettled([
      analyticsApi.get(this.id), timeProfiles.list(), analyticsApi.detectors(), analyticsApi.motionGate(),
      api('/api/analytics/behaviours'),
    ]);
    if (profiles.status === 'fulfilled') this.profiles = profiles.value;
    if (behaviours.status === 'fulfilled') {
      this.behaviourKinds = Object.fromEntries(behaviours.value.filter((b) => b.available).map((b) => [b.key, b]));
    }
    replace(this.addType, this.behaviourOptions());
    if (motionGate.status === 'fulfilled') this.motionOptions = motionGate.value.properties ?? {};
    if (detectors.status === 'fulfilled' && Array.isArray(detectors.value) && detectors.value.length) {
      this.detectors = detectors.value;
    }
    if (config.status === 'fulfilled') {
      this.setConfig(config.value);
    } else {
      this.setConfig(defaultConfig());
      this.showError(`Could not load the analytics configuration: ${config.reason.message}`);
    }
  }

  setConfig(config) {
    this.config = {
      ...config,
      detector: { ...(config.detector ?? { type: 'nanodet' }) },
      zones: (config.zones ?? []).map((z) => ({ ...z, points: z.points.map((p) => [...p]) })),
      lines: (config.lines ?? []).map((l) => ({ ...l, start: [...l.start], end: [...l.end] })),
      behaviours: (config.behaviours ?? []).map((b) => ({ ...b })),
    };
    this.selected = null;
    this.setDirty(false);
    this.render();
  }

  loadSnapshot() {
    return this.canvas.loadSnapshot(snapshotUrl(this.id));
  }

  // Geometry helpers (draw-surface.js) --------------------------------------------------------

  fit() {
    this.canvas.fit();
  }

  size() {
    return this.canvas.size();
  }

  pointOf(e) {
    return this.canvas.pointOf(e);
  }

  px(p) {
    return this.canvas.px(p);
  }

  distancePx(a, b) {
    return this.canvas.distancePx(a, b);
  }

  // Modes and drawing --------------------------------------------------------------------------

  setMode(mode) {
    this.mode = mode;
    this.draft = [];
    for (const [k, b] of Object.entries(this.modeButtons)) b.classList.toggle('active', k === mode);
    this.surface.dataset.mode = mode;
    this.hint.textContent = {
      select: 'Drag a corner or a shape to move it · double-click a corner to remove it · Delete removes the selected shape',
      zone: 'Click the corners; click the first corner (or the last one again, or Enter) to close · Esc cancels',
      line: 'Click the start, then the end: "in" is from the left of start→end to its right · Esc cancels',
    }[mode];
    this.updateDraftControls();
    this.draw();
  }

  updateDraftControls() {
    this.closeZoneButton.hidden = !(this.mode === 'zone' && this.draft.length >= 3);
  }

  pointerDown(e) {
    if (e.button !== 0 || !this.config) return;
    const p = this.pointOf(e);
    if (this.mode === 'zone') {
      e.preventDefault();
      const click = this.canvas.polygonClick(this.draft, p);
      if (click === 'close') {
        this.closeZone();
        return;
      }
      if (click === 'ignore') return; // a double-click's second press
      this.draft.push(p);
      this.updateDraftControls();
      this.draw();
      return;
    }
    if (this.mode === 'line') {
      e.preventDefault();
      if (this.draft.length && this.distancePx(p, this.draft[0]) <= SAME_PX) return;
      this.draft.push(p);
      if (this.draft.length === 2) {
        const name = uniqueName('Line', this.config.lines);
        this.config.lines.push({ name, start: this.draft[0], end: this.draft[1] });
        this.changed();
        this.selected = { kind: 'lines', index: this.config.lines.length - 1 };
        this.setMode('select');
        this.render();
      } else {
        this.draw();
      }
      return;
    }
    // Select mode: a handle starts a corner drag, a shape body a move.
    const target = e.target.closest?.('[data-kind]');
    if (!target) {
      this.select(null);
      return;
    }
    e.preventDefault();
    const kind = target.dataset.kind;
    const index = Number(target.dataset.index);
    this.select({ kind, index });
    this.svg.setPointerCapture?.(e.pointerId);
    const shape = this.config[kind][index];
    this.drag = {
      kind, index, handle: target.dataset.handle ?? null, origin: p,
      before: kind === 'zones' ? shape.points.map((q) => [...q]) : [[...shape.start], [...shape.end]],
    };
  }

  pointerMove(e) {
    const p = this.pointOf(e);
    if (this.mode !== 'select') {
      this.hover = p;
      if (this.draft.length) this.draw();
      return;
    }
    if (!this.drag) return;
    const { kind, index, handle, origin, before } = this.drag;
    const shape = this.config[kind][index];
    const points = dragPoints(before, handle, origin, p); // a corner, or the whole shape
    if (kind === 'zones') shape.points = points;
    else [shape.start, shape.end] = points;
    this.drag.moved = true;
    this.draw();
  }

  pointerUp() {
    if (!this.drag) return;
    const { kind, index, moved } = this.drag;
    this.drag = null;
    if (moved) {
      this.clearError(`${kind}.${index}`);
      this.changed();
      this.renderShapes();
    }
  }

  doubleClick(e) {
    if (this.mode !== 'select') return;
    const target = e.target.closest?.('[data-handle]');
    if (!target || target.dataset.kind !== 'zones') return;
    const zone = this.config.zones[Number(target.dataset.index)];
    if (zone.points.length <= 3) {
      toast('A zone needs at least 3 corners; delete the zone instead', 'error');
      return;
    }
    zone.points.splice(Number(target.dataset.handle), 1);
    this.clearError(`zones.${target.dataset.index}`);
    this.changed();
    this.render();
  }

  closeZone() {
    if (this.mode !== 'zone' || this.draft.length < 3) return;
    const name = uniqueName('Zone', this.config.zones);
    this.config.zones.push({ name, points: this.draft });
    this.selected = { kind: 'zones', index: this.config.zones.length - 1 };
    this.changed();
    this.setMode('select');
    this.render();
  }

  key(e) {
    if (!isShortcut(e)) return;
    if (e.key === 'Escape' && this.mode !== 'select') this.setMode('select');
    else if (e.key === 'Enter' && this.mode === 'zone') this.closeZone();
    else if ((e.key === 'Delete' || e.key === 'Backspace') && this.selected && this.mode === 'select') {
      e.preventDefault();
      this.removeShape(this.selected.kind, this.selected.index);
    }
  }

  select(selection) {
    const same = (a, b) => a === b || (a && b && a.kind === b.kind && a.index === b.index);
    // Redraw only on a change: a double-click must land on the same corner element twice.
    if (!same(selection, this.selected)) {
      this.selected = selection;
      this.draw();
    }
    for (const row of this.shapesBox.querySelectorAll('[data-kind]')) {
      row.classList.toggle('selected', Boolean(selection) &&
        row.dataset.kind === selection.kind && Number(row.dataset.index) === selection.index);
    }
  }

  removeShape(kind, index) {
    const [removed] = this.config[kind].splice(index, 1);
    // Behaviours on it lose their reference: the server then names them, and the form shows it.
    const ref = kind === 'zones' ? 'zone' : 'line';
    for (const b of this.config.behaviours) if (b[ref] === removed.name) b[ref] = null;
    this.errors.clear();
    this.selected = null;
    this.changed();
    this.render();
  }

  flipLine(index) {
    const line = this.config.lines[index];
    [line.start, line.end] = [line.end, line.start];
    this.changed();
    this.draw();
  }

  renameShape(kind, index, name) {
    const shape = this.config[kind][index];
    const ref = kind === 'zones' ? 'zone' : 'line';
    for (const b of this.config.behaviours) if (b[ref] === shape.name) b[ref] = name;
    shape.name = name;
    this.changed();
    this.renderBehaviours();
    this.draw();
  }

  /** Redraw the SVG layer: zones, lines (with their "in" arrow), the draft, handles. */
  draw() {
    if (!this.config) return;
    this.canvas.clear();
    const isSelected = (kind, i) => this.selected?.kind === kind && this.selected.index === i;
    this.config.zones.forEach((zone, i) => {
      const colour = ZONE_COLOURS[i % ZONE_COLOURS.length];
      const invalid = this.hasError(`zones.${i}`);
      const g = svg('g', { class: `shape zone${isSelected('zones', i) ? ' selected' : ''}${invalid ? ' invalid' : ''}`,
        'data-testid': 'zone-shape', 'data-name': zone.name, 'data-invalid': String(invalid) });
      const pts = zone.points.map((p) => this.px(p).join(',')).join(' ');
      g.append(svg('polygon', { points: pts, fill: colour, 'fill-opacity': '0.18', stroke: invalid ? '#ef4444' : colour,
        'stroke-width': isSelected('zones', i) ? 3 : 2, 'data-kind': 'zones', 'data-index': i }));
      const [lx, ly] = this.px(zone.points[0]);
      g.append(label(zone.name, lx + 6, ly - 6, invalid ? '#ef4444' : colour));
      if (isSelected('zones', i)) zone.points.forEach((p, k) => g.append(handle(this.px(p), 'zones', i, k, colour)));
      this.svg.append(g);
    });
    this.config.lines.forEach((line, i) => {
      const invalid = this.hasError(`lines.${i}`);
      const colour = invalid ? '#ef4444' : LINE_COLOUR;
      const [x1, y1] = this.px(line.start);
      const [x2, y2] = this.px(line.end);
      const g = svg('g', { class: `shape line${isSelected('lines', i) ? ' selected' : ''}`, 'data-testid': 'line-shape',
        'data-name': line.name, 'data-invalid': String(invalid) });
      // A wide transparent stroke makes the thin line easy to grab.
      g.append(svg('line', { x1, y1, x2, y2, stroke: 'transparent', 'stroke-width': 14, 'data-kind': 'lines', 'data-index': i }));
      g.append(svg('line', { x1, y1, x2, y2, stroke: colour, 'stroke-width': isSelected('lines', i) ? 3 : 2,
        'data-kind': 'lines', 'data-index': i }));
      g.append(inArrow([x1, y1], [x2, y2], colour));
      g.append(label(`${line.name} A→B`, x1 + 6, y1 - 6, colour));
      g.append(label('A', x1 - 14, y1 + 4, colour), label('B', x2 + 6, y2 + 4, colour));
      if (isSelected('lines', i)) {
        g.append(handle([x1, y1], 'lines', i, 0, colour), handle([x2, y2], 'lines', i, 1, colour));
      }
      this.svg.append(g);
    });
    if (this.draft.length) this.svg.append(this.canvas.draftShape(this.draft, this.hover, this.mode === 'zone'));
  }

  // Panels -----------------------------------------------------------------------------------

  render() {
    if (!this.config) return;
    this.renderSettings();
    this.renderShapes();
    this.renderBehaviours();
    this.draw();
  }

  renderSettings() {
    const c = this.config;
    this.optionSlots = new Set(); // filled by optionField: the option paths with an error slot
    const enabled = h('input', { type: 'checkbox', id: 'an-enabled', checked: Boolean(c.enabled), dataset: { testid: 'field-enabled' },
      onchange: () => { c.enabled = enabled.checked; this.changed('enabled'); } });
    const stream = h('select', { class: 'input', id: 'an-stream', dataset: { testid: 'field-stream' },
      onchange: () => { c.stream = stream.value; this.changed('stream'); } },
    h('option', { value: 'sub' }, 'Sub-stream (the main one if none)'),
    h('option', { value: 'main' }, 'Main stream'));
    stream.value = c.stream ?? 'sub';
    const fps = h('input', { class: 'input', id: 'an-fps', type: 'number', min: '0.1', max: '30', step: 'any', placeholder: '5',
      dataset: { testid: 'field-fps' }, value: c.fps ?? '',
      oninput: () => { c.fps = fps.value === '' ? undefined : Number(fps.value); this.changed('fps'); } });
    const known = this.detectors.some((d) => d.key === c.detector.type);
    const detectors = known ? this.detectors : [...this.detectors, { key: c.detector.type, available: false, reason: 'not installed on this server' }];
    const detectorHint = h('div', { class: 'hint' });
    const detector = h('select', { class: 'input', id: 'an-detector', dataset: { testid: 'field-detector' },
      // Another detector has other options: its own defaults, until set.
      onchange: () => { c.detector = { type: detector.value }; this.changed('detector'); this.renderSettings(); } },
    detectors.map((d) => h('option', { value: d.key }, d.available === false ? `${d.key} (unavailable)` : d.key)));
    detector.value = c.detector.type;
    const showReason = () => {
      const d = detectors.find((x) => x.key === detector.value);
      detectorHint.textContent = d?.available === false ? (d.reason ?? 'unavailable') : 'motion needs no model; the others run an ONNX model';
      detectorHint.classList.toggle('warn', d?.available === false);
    };
    showReason();
    const seconds = (name, labelText, placeholder) => {
      const input = h('input', { class: 'input', id: `an-${name}`, type: 'number', min: '0', step: 'any', placeholder,
        dataset: { testid: `field-${name}` }, value: c[name] ?? '',
        oninput: () => { c[name] = input.value === '' ? undefined : Number(input.value); this.changed(name); } });
      return h('div', { class: 'field' }, h('label', { for: `an-${name}` }, labelText), input, this.errorEl(name));
    };
    replace(this.settingsBox,
      h('div', { class: 'field field-check' }, enabled, h('label', { for: 'an-enabled' }, 'Analytics enabled for this camera'),
        this.errorEl('enabled')),
      h('div', { class: 'field' }, h('label', { for: 'an-stream' }, 'Stream analysed'), stream, this.errorEl('stream')),
      h('div', { class: 'field-row' },
        h('div', { class: 'field' }, h('label', { for: 'an-fps' }, 'Frames analysed per second'), fps, this.errorEl('fps')),
        h('div', { class: 'field' }, h('label', { for: 'an-detector' }, 'Detector'), detector, this.errorEl('detector'))),
      detectorHint,
      this.optionsBox('detector', 'Detector options', detectors.find((d) => d.key === c.detector.type)?.options?.properties ?? {}),
      this.optionsBox('motion', 'Motion gate', this.motionOptions ?? {}, this.errorEl('motion')),
      h('div', { class: 'field-row' },
        seconds('record_pre_s', 'Keep before an event (s)', '10'),
        seconds('record_post_s', 'Keep after an event (s)', '30')),
      h('div', { class: 'hint' }, 'Footage kept around events when the camera records only around events.'));
  }

  /** A folding box of options from JSON-schema properties, kept in ``config[group]``; an empty
   * field (or the default) leaves the option to the server's default. */
  optionsBox(group, title, properties, groupError = null) {
    const fields = Object.entries(properties).filter(([, p]) => EDITABLE.includes(p.type))
      .map(([name, p]) => this.optionField(group, name, p));
    if (!fields.length) return null;
    this.openOptions ??= new Set();
    const box = h('details', { class: 'options', dataset: { testid: `${group}-options` },
      open: this.openOptions.has(group) || this.hasError(group, true),
      ontoggle: () => (box.open ? this.openOptions.add(group) : this.openOptions.delete(group)) },
    h('summary', {}, title), ...fields, groupError);
    return box;
  }

  optionField(group, name, p) {
    const path = `${group}.${name}`;
    this.optionSlots.add(path);
    const values = () => this.config[group] ?? {};
    return schemaField(name, p, {
      id: `an-${group}-${name}`, testid: `field-${path}`, value: values()[name], error: this.errorEl(path),
      onChange: (value) => {
        const next = { ...values() };
        if (value === undefined || value === p.default) delete next[name];
        else next[name] = value;
        this.config[group] = next;
        this.changed(path);
      },
    }).element;
  }

  renderShapes() {
    const c = this.config;
    const row = (kind, shape, i) => {
      const path = `${kind}.${i}`;
      const colour = kind === 'zones' ? ZONE_COLOURS[i % ZONE_COLOURS.length] : LINE_COLOUR;
      const name = h('input', { class: 'input input-small', value: shape.name, maxlength: 60,
        dataset: { testid: `${kind === 'zones' ? 'zone' : 'line'}-name` }, 'aria-label': `${kind === 'zones' ? 'Zone' : 'Line'} name`,
        onfocus: () => this.select({ kind, index: i }),
        oninput: () => {
          const ok = NAME_PATTERN.test(name.value);
          name.classList.toggle('invalid', !ok);
          name.title = ok ? '' : 'Letters, digits, space, _ . - (1 to 60)';
          this.renameShape(kind, i, name.value);
          this.clearError(`${path}.name`);
        } });
      const info = kind === 'zones' ? `${shape.points.length} corners` : 'in: A→B, left to right';
      return h('div', { class: 'shape-row', dataset: { testid: `${kind === 'zones' ? 'zone' : 'line'}-row`, kind, index: i },
        onclick: (e) => { if (!e.target.closest('button, input')) this.select({ kind, index: i }); } },
      h('div', { class: 'shape-row-head' },
        h('i', { class: 'swatch', style: { background: colour } }), name,
        h('span', { class: 'meta' }, info), h('span', { class: 'spacer' }),
        kind === 'lines' ? h('button', { type: 'button', class: 'btn btn-small', dataset: { testid: 'flip-line' },
          title: 'Swap the ends: "in" becomes "out"', onclick: () => this.flipLine(i) }, '⇅ Flip') : null,
        h('button', { type: 'button', class: 'btn btn-small btn-danger', dataset: { testid: `delete-${kind === 'zones' ? 'zone' : 'line'}` },
          onclick: () => this.removeShape(kind, i) }, 'Delete')),
      this.errorEl(path, true));
    };
    replace(this.shapesBox,
      c.zones.length || c.lines.length ? null
        : h('div', { class: 'meta' }, 'None yet: use "Draw zone" or "Draw line" over the image.'),
      c.zones.map((z, i) => row('zones', z, i)),
      c.lines.map((l, i) => row('lines', l, i)),
      this.errorEl('zones'), this.errorEl('lines'));
    this.select(this.selected);
  }

  renderBehaviours() {
    const c = this.config;
    replace(this.behavioursBox,
      c.behaviours.length ? null : h('div', { class: 'meta' }, 'None yet: add one below, on a zone or a line.'),
      c.behaviours.map((b, i) => this.behaviourCard(b, i)),
      this.errorEl('behaviours'));
  }

  /** The <option>s of the behaviour types (their labels from the server). */
  behaviourOptions(current = null) {
    const kinds = Object.values(this.behaviourKinds);
    const known = kinds.some((k) => k.key === current);
    return [...kinds.map((k) => h('option', { value: k.key }, k.label)),
      current && !known ? h('option', { value: current }, `${current} (not installed)`) : null];
  }

  /** The schema fields of a behaviour type, without those every behaviour has. */
  behaviourFields(type) {
    return schemaFields(this.behaviourKinds[type]?.options, COMMON_BEHAVIOUR_FIELDS);
  }

  /** A new behaviour of `type` (keeping what all have): its zone or line the first drawn. */
  newBehaviour(type, from = {}) {
    const b = { type, name: from.name ?? null, classes: from.classes ?? [], time_profile_id: from.time_profile_id ?? null };
    for (const [name, p, required] of this.behaviourFields(type)) {
      const widget = widgetOf(p);
      if ((widget === 'zone' || widget === 'line') && required) {
        b[name] = from[name] ?? this.config[`${widget}s`][0]?.name ?? null;
      }
    }
    return b;
  }

  behaviourCard(b, i) {
    const path = `behaviours.${i}`;
    const c = this.config;
    const kind = this.behaviourKinds[b.type];
    const label0 = kind?.label ?? b.type;
    const type = h('select', { class: 'input input-small', dataset: { testid: `field-${path}.type` },
      onchange: () => {
        c.behaviours[i] = this.newBehaviour(type.value, b);
        this.clearError(path);
        this.changed();
        this.renderBehaviours();
      } },
    this.behaviourOptions(b.type));
    type.value = b.type;
    const set = (name, value) => {
      if (value === undefined) delete b[name];
      else b[name] = value;
      this.clearError(`${path}.${name}`);
      this.changed();
    };
    const refs = { zone: c.zones.map((z) => z.name), line: c.lines.map((l) => l.name) };
    const fields = this.behaviourFields(b.type).map(([name, p, required]) => schemaField(name, p, {
      id: `an-${path}-${name}`, testid: `field-${path}.${name}`, value: b[name], refs, required,
      error: this.errorEl(`${path}.${name}`), onChange: (value) => set(name, value === null ? undefined : value),
    }).element);
    const name = h('input', { class: 'input', placeholder: label0, value: b.name ?? '', maxlength: 60,
      dataset: { testid: `field-${path}.name` },
      oninput: () => set('name', name.value.trim() || null) });
    const classes = h('div', { class: 'multi', dataset: { testid: `field-${path}.classes` } },
      [...new Set([...CLASSES, ...(b.classes ?? [])])].map((cls) => {
        const box = h('input', { type: 'checkbox', value: cls, checked: (b.classes ?? []).includes(cls),
          onchange: () => set('classes', [...classes.querySelectorAll('input:checked')].map((x) => x.value)) });
        return h('label', { class: 'check-option', dataset: { testid: 'option', value: cls } }, box, cls);
      }));
    const profile = h('select', { class: 'input', dataset: { testid: `field-${path}.time_profile_id` },
      onchange: () => set('time_profile_id', profile.value ? Number(profile.value) : null) },
    h('option', { value: '' }, 'Always'),
    this.profiles.map((p) => h('option', { value: String(p.id) }, `${p.name}${p.active_now ? ' (active now)' : ''}`)));
    profile.value = b.time_profile_id == null ? '' : String(b.time_profile_id);
    const invalid = this.hasError(path, true);
    return h('div', { class: `action-card behaviour-card${invalid ? ' invalid' : ''}`,
      dataset: { testid: 'behaviour-card', index: i, type: b.type, invalid: String(invalid) } },
    h('div', { class: 'action-card-head' }, h('span', { class: 'action-index' }, `${i + 1}.`), type,
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'btn btn-small btn-danger', dataset: { testid: 'remove-behaviour' },
        onclick: () => { c.behaviours.splice(i, 1); this.errors.clear(); this.changed(); this.renderBehaviours(); } }, 'Remove')),
    this.errorEl(path, true),
    fields,
    h('div', { class: 'field' }, h('label', {}, 'Classes'), classes,
      h('div', { class: 'hint' }, 'None ticked: the usual classes of this behaviour.'), this.errorEl(`${path}.classes`)),
    h('div', { class: 'field-row' },
      h('div', { class: 'field' }, h('label', {}, 'Name in events'), name, this.errorEl(`${path}.name`)),
      h('div', { class: 'field' }, h('label', {}, 'Time profile'), profile, this.errorEl(`${path}.time_profile_id`))));
  }

  addBehaviour(type) {
    if (!type) return;
    this.config.behaviours.push(this.newBehaviour(type));
    this.changed();
    this.renderBehaviours();
    this.behavioursBox.lastElementChild?.previousElementSibling?.scrollIntoView?.({ block: 'nearest' });
  }

  // Errors -----------------------------------------------------------------------------------

  /** An element showing the server's message for `path` (or, with `under`, for what is under it). */
  errorEl(path, under = false) {
    const messages = [...this.errors].filter(([p]) => p === path || (under && p.startsWith(`${path}.`) && !this.hasSlot(p)))
      .map(([p, m]) => (p === path ? m : `${p.slice(path.length + 1)}: ${m}`));
    return h('div', { class: 'field-error', hidden: !messages.length, dataset: { testid: `error-${path}` } }, messages.join('; '));
  }

  /** Whether a field path has its own error slot in the form (its message is shown there). */
  hasSlot(path) {
    const parts = path.split('.');
    if (parts[0] !== 'behaviours' || parts.length < 3) return false;
    const type = this.config.behaviours[Number(parts[1])]?.type;
    return [...COMMON_BEHAVIOUR_FIELDS, ...this.behaviourFields(type).map(([name]) => name)].includes(parts[2]);
  }

  hasError(path, under = true) {
    return [...this.errors.keys()].some((p) => p === path || (under && p.startsWith(`${path}.`)));
  }

  clearError(path) {
    let changed = false;
    for (const p of [...this.errors.keys()]) {
      if (p === path || p.startsWith(`${path}.`)) changed = this.errors.delete(p) || changed;
    }
    if (changed) {
      for (const el of document.querySelectorAll(`[data-testid="error-${CSS.escape(path)}"]`)) el.hidden = true;
    }
  }

  showError(message) {
    this.formError.textContent = message ?? '';
    this.formError.hidden = !message;
  }

  /** Turn the server's 422 fields into paths of this form ("behaviours.0.loitering.zone" -> "behaviours.0.zone"). */
  placeErrors(err) {
    this.errors.clear();
    const general = [];
    for (const [raw, message] of Object.entries(err.fields ?? {})) {
      let text = message.replace(/^Value error, /, '');
      let path = raw;
      if (!path || path === 'body') {
        // Checks across the whole configuration name what they concern in their message.
        const named = /\b((?:zones|lines|behaviours)\.\d+)\b/.exec(text);
        if (!named) {
          general.push(text);
          continue;
        }
        path = named[1];
      }
      const parts = path.split('.');
      if (parts[0] === 'behaviours' && parts[2] === this.config.behaviours[Number(parts[1])]?.type) parts.splice(2, 1); // the type's tag
      // An option shown in the settings has its own slot; anything else, its group's.
      if ((parts[0] === 'detector' || parts[0] === 'motion') && !this.optionSlots?.has(parts.slice(0, 2).join('.'))) parts.length = 1;
      path = parts.join('.');
      if (!PLACED.includes(parts[0])) {
        general.push(`${raw}: ${text}`);
        continue;
      }
      if ((parts[0] === 'zones' || parts[0] === 'lines') && parts.length > 2 && parts[2] !== 'name') path = parts.slice(0, 2).join('.');
      text = this.errors.has(path) ? `${this.errors.get(path)}; ${text}` : text;
      this.errors.set(path, text);
    }
    if (!Object.keys(err.fields ?? {}).length) general.push(err.message);
    this.showError(general.length ? general.join('; ') : `Not saved: ${this.errors.size} problem(s) marked below.`);
    this.render();
    this.surface.dataset.errors = String(this.errors.size);
    const first = this.formError.parentElement.querySelector('.field-error:not([hidden])');
    (first ?? this.formError).scrollIntoView({ block: 'center' });
  }

  // Saving -----------------------------------------------------------------------------------

  changed(path) {
    if (path) this.clearError(path);
    this.setDirty(true);
  }

  setDirty(dirty) {
    this.dirty = dirty;
    this.dirtyMark.textContent = dirty ? 'unsaved changes' : '';
  }

  body() {
    const pt = rounded;
    const c = this.config;
    const behaviours = c.behaviours.map((b) => Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined)));
    const body = { ...c, zones: c.zones.map((z) => ({ ...z, points: z.points.map(pt) })),
      lines: c.lines.map((l) => ({ ...l, start: pt(l.start), end: pt(l.end) })), behaviours };
    for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k]; // the server's default
    return body;
  }

  async save() {
    if (!this.config) return;
    if (this.mode === 'zone' && this.draft.length >= 3) this.closeZone();
    this.showError(null);
    this.errors.clear();
    this.saveButton.disabled = true;
    try {
      const saved = await analyticsApi.save(this.id, this.body());
      this.setConfig(saved);
      this.surface.dataset.errors = '0';
      toast(`Analytics of ${store.get(this.id)?.name ?? `camera ${this.id}`} saved`, 'ok');
    } catch (err) {
      if (err.status === 422) this.placeErrors(err);
      else this.showError(`Not saved: ${err.message}`);
    } finally {
      this.saveButton.disabled = false;
    }
  }
}

// SVG helpers (the common ones are in draw-surface.js) ---------------------------------------

/** An arrow from the line's middle towards its "in" side (the right of start->end, y down). */
function inArrow([x1, y1], [x2, y2], colour) {
  const dx = x2 - x1, dy = y2 - y1;
  const len = Math.hypot(dx, dy) || 1;
  const nx = -dy / len, ny = dx / len; // right-hand normal on a y-down image
  const mx = (x1 + x2) / 2, my = (y1 + y2) / 2;
  const size = Math.min(28, Math.max(14, len / 4));
  const tx = mx + nx * size, ty = my + ny * size;
  const ux = dx / len, uy = dy / len;
  const g = svg('g', { class: 'in-arrow', 'data-testid': 'in-arrow', 'data-dx': nx.toFixed(3), 'data-dy': ny.toFixed(3) });
  g.append(svg('line', { x1: mx, y1: my, x2: tx, y2: ty, stroke: colour, 'stroke-width': 2 }));
  g.append(svg('polygon', {
    points: [[tx + nx * 9, ty + ny * 9], [tx + ux * 6, ty + uy * 6], [tx - ux * 6, ty - uy * 6]].map((p) => p.join(',')).join(' '),
    fill: colour }));
  const t = label('IN', tx + nx * 22 - 7, ty + ny * 22 + 4, colour);
  g.append(t);
  return g;
}

function defaultConfig() {
  return { enabled: false, stream: 'sub', fps: 5, detector: { type: 'nanodet' }, zones: [], lines: [], behaviours: [] };
}
