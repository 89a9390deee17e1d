// The privacy mask editor (#/camera/{id}/privacy-masks): polygons drawn on the camera's live
// snapshot that viewers without the unmask permission never see (live, playback, exports
// show solid grey there) and that analytics never looks at. Coordinates are normalised
// (0..1 across the image, y down), as the server stores them; the server validates and its
// messages appear on the mask they name ("masks.2.points" marks the third mask).
//
// Drawing: "Draw mask", then click the corners; click the first corner (or the last one
// again, or press Enter) to close it. In select mode drag a corner or a whole mask;
// double-click a corner to remove it; Delete removes the selected mask. "Preview" shows the
// masks as viewers without unmask see them.

import { api, snapshotUrl } from './api.js';
import { DrawSurface, dragPoints, handle, label, rounded, svg, uniqueName } from './draw-surface.js';
import { P, session } from './session.js';
import { store } from './store.js';
import { h, isShortcut, replace, toast } from './ui.js';

const MAX_MASKS = 32; // domain/privacy.py
const MAX_NAME = 80;
const MASK_COLOUR = '#f43f5e';
const FILL = 'rgb(32, 32, 32)'; // media/privacy.py FILL_LEVEL: what viewers without unmask see

const masksApi = {
  get: (id) => api(`/api/cameras/${id}/privacy-masks`),
  save: (id, masks) => api(`/api/cameras/${id}/privacy-masks`, { method: 'PUT', body: { masks } }),
};

export function mount(root, { id }) {
  const editor = new PrivacyEditor(root, Number(id));
  return () => editor.destroy();
}

class PrivacyEditor {
  constructor(root, cameraId) {
    this.id = cameraId;
    this.masks = null; // [{ name, points }] being edited
    this.errors = new Map(); // "masks.2" or "masks.2.name" -> the server's message
    this.mode = 'select'; // select | mask
    this.draft = [];
    this.hover = null;
    this.selected = null; // index of the selected mask
    this.drag = null;
    this.dirty = false;

    this.title = h('h1', {}, `Privacy masks · camera ${cameraId}`);
    this.dirtyMark = h('span', { class: 'meta', dataset: { testid: 'privacy-dirty' } });
    this.saveButton = h('button', { class: 'btn btn-primary', dataset: { testid: 'privacy-save' }, onclick: () => this.save() }, 'Save');
    this.formError = h('div', { class: 'banner error', hidden: true, dataset: { testid: 'privacy-error' } });
    this.modeButtons = {
      select: h('button', { class: 'btn btn-small', dataset: { testid: 'mode-select' }, onclick: () => this.setMode('select') }, 'Select'),
      mask: h('button', { class: 'btn btn-small', dataset: { testid: 'draw-mask' }, onclick: () => this.setMode('mask') }, '+ Draw mask'),
    };
    this.closeButton = h('button', { class: 'btn btn-small', dataset: { testid: 'close-mask' }, hidden: true,
      onclick: () => this.closeMask() }, 'Close mask');
    this.preview = h('input', { type: 'checkbox', id: 'pm-preview', dataset: { testid: 'preview-masks' }, onchange: () => this.draw() });
    this.hint = h('span', { class: 'hint', dataset: { testid: 'draw-hint' } });
    this.canvas = new DrawSurface('privacy', () => this.draw());
    this.svg = this.canvas.svg;
    this.list = h('div');
    this.unmaskNote = h('div', { class: 'hint', hidden: session.can(P.UNMASK), dataset: { testid: 'unmask-note' } },
      'You do not hold the unmask permission: the snapshot shows the saved masks filled in.');

    replace(root, h('div', { class: 'analytics-view', dataset: { testid: 'privacy-editor', cameraId } },
      h('div', { class: 'view-header' },
        h('a', { href: `#/camera/${cameraId}`, class: 'btn btn-small' }, '← Camera'),
        h('a', { href: `#/cameras/${cameraId}/edit`, class: 'btn btn-small' }, 'Camera settings'),
        this.title, this.dirtyMark, h('span', { class: 'spacer' }), this.saveButton),
      h('div', { class: 'analytics-body' },
        h('section', { class: 'analytics-main' },
          h('div', { class: 'controls' },
            h('span', { class: 'btn-group' }, Object.values(this.modeButtons)), this.closeButton,
            h('button', { class: 'btn btn-small', dataset: { testid: 'refresh-snapshot' }, onclick: () => this.loadSnapshot() }, 'Refresh snapshot'),
            h('label', { class: 'check-option', for: 'pm-preview' }, this.preview, 'Preview'),
            h('span', { class: 'spacer' }), this.hint),
          this.canvas.stage),
        h('aside', { class: 'analytics-side' },
          this.formError,
          h('section', { class: 'panel' }, h('h2', {}, 'Masks'),
            h('p', { class: 'hint' }, 'People without the unmask permission see these areas as solid grey in live ' +
              'view, playback and exports; analytics never looks at them. Changes apply to live view within ' +
              'seconds, without interrupting recording.'),
            this.unmaskNote, this.list)))));

    this.svg.addEventListener('pointerdown', (e) => this.pointerDown(e));
    this.svg.addEventListener('pointermove', (e) => this.pointerMove(e));
    this.svg.addEventListener('pointerup', () => this.pointerUp());
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
    this.title.textContent = `Privacy masks · ${camera.name}`;
    document.title = `Privacy masks · ${camera.name} · Vigil`;
    this.canvas.shapeOf(camera);
  }

  async load() {
    try {
      const saved = await masksApi.get(this.id);
      this.setMasks(saved.masks);
    } catch (err) {
      this.setMasks([]);
      this.showError(`Could not load the privacy masks: ${err.message}`);
    }
  }

  loadSnapshot() {
    return this.canvas.loadSnapshot(snapshotUrl(this.id));
  }

  setMasks(masks) {
    this.masks = masks.map((m) => ({ name: m.name, points: m.points.map((p) => [...p]) }));
    this.selected = null;
    this.setDirty(false);
    this.render();
  }

  // Drawing ----------------------------------------------------------------------------------

  setMode(mode) {
    if (mode === 'mask' && this.masks && this.masks.length >= MAX_MASKS) {
      toast(`A camera has at most ${MAX_MASKS} masks`, 'error');
      return;
    }
    this.mode = mode;
    this.draft = [];
    for (const [k, b] of Object.entries(this.modeButtons)) b.classList.toggle('active', k === mode);
    this.canvas.surface.dataset.mode = mode;
    this.hint.textContent = mode === 'mask'
      ? 'Click the corners; click the first corner (or the last one again, or Enter) to close · Esc cancels'
      : 'Drag a corner or a mask to move it · double-click a corner to remove it · Delete removes the selected mask';
    this.updateDraftControls();
    this.draw();
  }

  updateDraftControls() {
    this.closeButton.hidden = !(this.mode === 'mask' && this.draft.length >= 3);
  }

  pointerDown(e) {
    if (e.button !== 0 || !this.masks) return;
    // Drawing takes the keyboard (Enter closes, Delete removes) from a name being typed.
    if (document.activeElement?.matches?.('input, textarea, select')) document.activeElement.blur();
    const p = this.canvas.pointOf(e);
    if (this.mode === 'mask') {
      e.preventDefault();
      const click = this.canvas.polygonClick(this.draft, p);
      if (click === 'close') this.closeMask();
      else if (click === 'add') {
        this.draft.push(p);
        this.updateDraftControls();
        this.draw();
      }
      return;
    }
    const target = e.target.closest?.('[data-kind="masks"]');
    if (!target) {
      this.select(null);
      return;
    }
    e.preventDefault();
    const index = Number(target.dataset.index);
    this.select(index);
    this.svg.setPointerCapture?.(e.pointerId);
    this.drag = { index, handle: target.dataset.handle ?? null, origin: p, before: this.masks[index].points.map((q) => [...q]) };
  }

  pointerMove(e) {
    const p = this.canvas.pointOf(e);
    if (this.mode !== 'select') {
      this.hover = p;
      if (this.draft.length) this.draw();
      return;
    }
    if (!this.drag) return;
    const { index, handle: corner, origin, before } = this.drag;
    this.masks[index].points = dragPoints(before, corner, origin, p);
    this.drag.moved = true;
    this.draw();
  }

  pointerUp() {
    if (!this.drag) return;
    const { index, moved } = this.drag;
    this.drag = null;
    if (moved) {
      this.clearError(`masks.${index}`);
      this.changed();
      this.renderList();
    }
  }

  doubleClick(e) {
    if (this.mode !== 'select') return;
    const target = e.target.closest?.('[data-handle]');
    if (!target) return;
    const mask = this.masks[Number(target.dataset.index)];
    if (mask.points.length <= 3) {
      toast('A mask needs at least 3 corners; delete the mask instead', 'error');
      return;
    }
    mask.points.splice(Number(target.dataset.handle), 1);
    this.clearError(`masks.${target.dataset.index}`);
    this.changed();
    this.render();
  }

  closeMask() {
    if (this.mode !== 'mask' || this.draft.length < 3) return;
    this.masks.push({ name: uniqueName('Mask', this.masks), points: this.draft });
    this.selected = this.masks.length - 1;
    this.changed();
    this.setMode('select');
    this.render();
  }

  key(e) {
    if (!isShortcut(e)) return;
    // preventDefault: Enter on the focused "Draw mask" button would click it again.
    if (e.key === 'Escape' && this.mode !== 'select') {
      e.preventDefault();
      this.setMode('select');
    } else if (e.key === 'Enter' && this.mode === 'mask') {
      e.preventDefault();
      this.closeMask();
    } else if ((e.key === 'Delete' || e.key === 'Backspace') && this.selected !== null && this.mode === 'select') {
      e.preventDefault();
      this.removeMask(this.selected);
    }
  }

  select(index) {
    if (index !== this.selected) {
      this.selected = index;
      this.draw();
    }
    for (const row of this.list.querySelectorAll('[data-index]')) {
      row.classList.toggle('selected', Number(row.dataset.index) === index);
    }
  }

  removeMask(index) {
    this.masks.splice(index, 1);
    this.errors.clear();
    this.selected = null;
    this.changed();
    this.render();
  }

  /** Redraw the masks (as viewers without unmask see them, in preview), the draft, handles. */
  draw() {
    if (!this.masks) return;
    this.canvas.clear();
    const solid = this.preview.checked;
    this.masks.forEach((mask, i) => {
      const selected = this.selected === i;
      const invalid = this.hasError(`masks.${i}`);
      const colour = invalid ? '#ef4444' : MASK_COLOUR;
      const g = svg('g', { class: `shape mask${selected ? ' selected' : ''}`, 'data-testid': 'mask-shape',
        'data-name': mask.name, 'data-invalid': String(invalid) });
      const pts = mask.points.map((p) => this.canvas.px(p).join(',')).join(' ');
      g.append(svg('polygon', { points: pts, fill: FILL, 'fill-opacity': solid ? '1' : '0.55',
        stroke: solid ? 'none' : colour, 'stroke-width': selected ? 3 : 2, 'data-kind': 'masks', 'data-index': i }));
      if (!solid) {
        const [lx, ly] = this.canvas.px(mask.points[0]);
        g.append(label(mask.name, lx + 6, ly - 6, colour));
        if (selected) mask.points.forEach((p, k) => g.append(handle(this.canvas.px(p), 'masks', i, k, colour)));
      }
      this.svg.append(g);
    });
    if (this.draft.length) this.svg.append(this.canvas.draftShape(this.draft, this.hover));
  }

  // Panel ------------------------------------------------------------------------------------

  render() {
    if (!this.masks) return;
    this.renderList();
    this.draw();
  }

  renderList() {
    const rows = this.masks.map((mask, i) => {
      const path = `masks.${i}`;
      const name = h('input', { class: 'input input-small', value: mask.name, maxlength: MAX_NAME, 'aria-label': 'Mask name',
        dataset: { testid: 'mask-name' },
        onfocus: () => this.select(i),
        oninput: () => {
          mask.name = name.value;
          name.classList.toggle('invalid', !name.value.trim());
          this.clearError(`${path}.name`);
          this.changed();
          this.draw();
        } });
      return h('div', { class: `shape-row${this.selected === i ? ' selected' : ''}`,
        dataset: { testid: 'mask-row', index: i, invalid: String(this.hasError(path)) },
        onclick: (e) => { if (!e.target.closest('button, input')) this.select(i); } },
      h('div', { class: 'shape-row-head' },
        h('i', { class: 'swatch', style: { background: FILL, outline: `1px solid ${MASK_COLOUR}` } }), name,
        h('span', { class: 'meta' }, `${mask.points.length} corners`), h('span', { class: 'spacer' }),
        h('button', { type: 'button', class: 'btn btn-small btn-danger', dataset: { testid: 'delete-mask' },
          onclick: () => this.removeMask(i) }, 'Delete')),
      this.errorEl(path, true));
    });
    replace(this.list,
      this.masks.length ? null : h('div', { class: 'meta', dataset: { testid: 'no-masks' } },
        'No masks: everyone with live, playback or export sees the whole image. Use "Draw mask" over the image.'),
      rows);
  }

  // Errors -----------------------------------------------------------------------------------

  /** The server's messages for `path` (and, with `under`, for what is under it). */
  errorEl(path, under = false) {
    const messages = [...this.errors].filter(([p]) => p === path || (under && p.startsWith(`${path}.`)))
      .map(([p, m]) => (p === path ? m : `${p.slice(path.length + 1)}: ${m}`));
    return h('div', { class: 'field-error', hidden: !messages.length, dataset: { testid: `error-${path}` } }, messages.join('; '));
  }

  hasError(path) {
    return [...this.errors.keys()].some((p) => p === path || p.startsWith(`${path}.`));
  }

  clearError(path) {
    for (const p of [...this.errors.keys()]) if (p === path || p.startsWith(`${path}.`)) this.errors.delete(p);
  }

  showError(message) {
    this.formError.textContent = message ?? '';
    this.formError.hidden = !message;
  }

  /** The server's 422 fields, placed on the masks they name. */
  placeErrors(err) {
    this.errors.clear();
    const general = [];
    for (const [field, raw] of Object.entries(err.fields ?? {})) {
      const text = raw.replace(/^Value error, /, '');
      const named = /^masks\.(\d+)(?:\.(name|points))?/.exec(field);
      if (named) {
        const path = named[2] === 'name' ? `masks.${named[1]}.name` : `masks.${named[1]}`;
        this.errors.set(path, this.errors.has(path) ? `${this.errors.get(path)}; ${text}` : text);
        continue;
      }
      // Checks across all masks name them in their message ("masks 0 and 2 are both named").
      const pair = /masks (\d+) and (\d+)/.exec(text);
      if (pair) for (const i of pair.slice(1)) this.errors.set(`masks.${i}.name`, text);
      general.push(text);
    }
    if (!Object.keys(err.fields ?? {}).length) general.push(err.message);
    this.showError(`Not saved: ${general.length ? general.join('; ') : `${this.errors.size} problem(s) marked below`}`);
    this.render();
    this.canvas.surface.dataset.errors = String(this.errors.size);
  }

  // Saving -----------------------------------------------------------------------------------

  changed() {
    this.setDirty(true);
  }

  setDirty(dirty) {
    this.dirty = dirty;
    this.dirtyMark.textContent = dirty ? 'unsaved changes' : '';
  }

  async save() {
    if (!this.masks) return;
    if (this.mode === 'mask' && this.draft.length >= 3) this.closeMask();
    this.showError(null);
    this.errors.clear();
    this.saveButton.disabled = true;
    try {
      const body = this.masks.map((m) => ({ name: m.name.trim(), points: m.points.map(rounded) }));
      const saved = await masksApi.save(this.id, body);
      this.setMasks(saved.masks);
      this.canvas.surface.dataset.errors = '0';
      toast(`Privacy masks of ${store.get(this.id)?.name ?? `camera ${this.id}`} saved`, 'ok');
    } catch (err) {
      if (err.status === 422) this.placeErrors(err);
      else this.showError(`Not saved: ${err.message}`);
    } finally {
      this.saveButton.disabled = false;
    }
  }
}
