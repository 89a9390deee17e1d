// Cameras: the list with each camera's health and the recorder node recording it, and the
// add/edit form (client-side hints as you type; the server's validation messages next to the
// fields they concern; the recorder node it is pinned to, or automatic). Changes are offered
// to administrators (permission manage) only.

import { cameras as camerasApi, linkedSitesReady, nodes as nodesApi, siteOf } from './api.js';
import { P, session } from './session.js';
import { siteBadge } from './site-badge.js';
import { store } from './store.js';
import {
  confirmDialog, formatAgo, formatDateTime, formatFps, formatKbps, formatResolution, h, replace,
  problemNote, statusBadge, toast,
} from './ui.js';

const SCHEMES = ['rtsp', 'rtsps', 'http', 'https', 'file'];
const STATUS_ORDER = ['online', 'connecting', 'offline', 'storage_full', 'disabled'];

/** Mount the list; `form` is "new", a camera id (edit), or undefined. */
export function mount(root, { form } = {}) {
  const list = new CameraList(root);
  linkedSitesReady(); // the list marks a linked site's cameras once their names are known
  let editor = null;
  if (form) editor = new CameraForm(root, form === 'new' ? null : Number(form));
  return () => {
    list.destroy();
    editor?.destroy();
  };
}

class CameraList {
  constructor(root) {
    this.rows = new Map(); // camera id -> { tr, cells, toggle }
    this.summary = h('span', { class: 'meta', dataset: { testid: 'camera-summary' } });
    this.error = h('div', { class: 'banner error', hidden: true });
    this.tbody = h('tbody');
    this.empty = h('div', { class: 'empty', hidden: true },
      session.can(P.MANAGE) ? 'No cameras yet. Add the first one.' : 'No cameras are open to your account.');
    replace(root, h('div', { class: 'cameras-view' },
      h('div', { class: 'view-header' },
        h('h1', {}, 'Cameras'), this.summary, h('span', { class: 'spacer' }),
        session.can(P.MANAGE)
          ? h('a', { href: '#/cameras/new', class: 'btn btn-primary', dataset: { testid: 'add-camera' } }, '+ Add camera')
          : null),
      this.error,
      h('table', { class: 'table', dataset: { testid: 'camera-table' } },
        h('thead', {}, h('tr', {},
          ['Status', 'Camera', 'Resolution', 'FPS', 'kbit/s', 'Last frame', 'Last error', ''].map((t) => h('th', {}, t)))),
        this.tbody),
      this.empty));
    this.onStore = () => this.render();
    store.addEventListener('change', this.onStore);
    this.timer = setInterval(() => this.render(), 1000); // ages ("3 s ago") move on
    this.render();
  }

  destroy() {
    clearInterval(this.timer);
    store.removeEventListener('change', this.onStore);
  }

  render() {
    const cameras = store.cameras;
    this.error.hidden = !store.error;
    this.error.textContent = store.error ? `Camera list not updated: ${store.error}` : '';
    this.empty.hidden = !store.loaded || cameras.length > 0;
    const counts = {};
    for (const c of cameras) counts[c.health.status] = (counts[c.health.status] ?? 0) + 1;
    this.summary.textContent = [`${cameras.length} camera${cameras.length === 1 ? '' : 's'}`,
      ...STATUS_ORDER.filter((s) => counts[s]).map((s) => `${counts[s]} ${s.replace('_', ' ')}`)].join(' · ');

    const ids = new Set(cameras.map((c) => c.id));
    for (const [id, row] of this.rows) {
      if (!ids.has(id)) {
        row.tr.remove();
        this.rows.delete(id);
      }
    }
    cameras.forEach((camera, i) => {
      let row = this.rows.get(camera.id);
      if (!row) {
        row = makeRow(camera);
        this.rows.set(camera.id, row);
      }
      updateRow(row, camera);
      if (this.tbody.children[i] !== row.tr) this.tbody.insertBefore(row.tr, this.tbody.children[i] ?? null);
    });
  }
}

function makeRow(camera) {
  const cell = (field) => h('td', { dataset: { field } });
  const cells = {
    status: cell('status'), name: cell('name'), resolution: cell('resolution'), fps: cell('fps'),
    bitrate: cell('bitrate'), last_frame: cell('last_frame'), last_error: cell('last_error'),
  };
  cells.fps.classList.add('num');
  cells.bitrate.classList.add('num');
  cells.last_error.classList.add('error-text');
  const toggle = h('button', { class: 'btn btn-small', dataset: { testid: 'toggle-camera' },
    onclick: () => setEnabled(toggle.camera, !toggle.camera.enabled) });
  const manage = session.can(P.MANAGE);
  const actions = h('td', { class: 'actions' },
    session.can(P.LIVE, P.PLAYBACK, P.EXPORT)
      ? h('a', { class: 'btn btn-small', href: `#/camera/${camera.id}`, dataset: { testid: 'view-camera' } }, 'View')
      : null,
    manage ? [
      h('a', { class: 'btn btn-small', href: `#/cameras/${camera.id}/edit`, dataset: { testid: 'edit-camera' } }, 'Edit'),
      h('a', { class: 'btn btn-small', href: `#/camera/${camera.id}/analytics`, dataset: { testid: 'camera-analytics' } }, 'Analytics'),
      h('a', { class: 'btn btn-small', href: `#/camera/${camera.id}/privacy-masks`, dataset: { testid: 'camera-privacy-masks' } }, 'Privacy masks'),
      toggle,
      h('button', { class: 'btn btn-small btn-danger', dataset: { testid: 'remove-camera' },
        onclick: () => removeCamera(toggle.camera) }, 'Remove'),
    ] : null);
  const tr = h('tr', { dataset: { testid: 'camera-row', cameraId: camera.id } }, Object.values(cells), actions);
  return { tr, cells, toggle };
}

function updateRow(row, camera) {
  const { cells, tr, toggle } = row;
  const health = camera.health;
  toggle.camera = camera;
  tr.dataset.status = health.status;
  tr.classList.toggle('row-disabled', !camera.enabled);
  const sig = (el, value) => {
    if (el.dataset.sig !== value) {
      el.dataset.sig = value;
      return true;
    }
    return false;
  };
  if (sig(cells.status, `${health.status}|${health.problem}`)) replace(cells.status, statusBadge(health.status), problemNote(health));
  if (sig(cells.name, `${camera.name}|${camera.location}|${camera.main_url}|${camera.node}|${siteOf(camera)}`)) {
    replace(cells.name,
      h('a', { href: `#/camera/${camera.id}`, class: 'camera-name', dataset: { testid: 'camera-name' } }, camera.name),
      siteBadge(camera),
      camera.location ? h('span', { class: 'sub' }, camera.location) : null,
      h('code', { class: 'sub url' }, camera.main_url),
      camera.node ? h('span', { class: 'sub', dataset: { testid: 'camera-node' } }, `recorded on ${camera.node}`) : null);
  }
  cells.resolution.textContent = formatResolution(health);
  cells.fps.textContent = health.status === 'online' ? formatFps(health.fps) : '—';
  cells.bitrate.textContent = health.status === 'online' ? formatKbps(health.bitrate_bps) : '—';
  cells.last_frame.textContent = health.last_frame_at ? formatDateTime(health.last_frame_at) : '—';
  cells.last_frame.title = health.last_frame_at ? formatAgo(health.last_frame_at) : '';
  if (health.last_frame_at) {
    cells.last_frame.append(h('span', { class: 'sub' }, formatAgo(health.last_frame_at)));
  }
  cells.last_error.textContent = health.last_error ?? '';
  cells.last_error.title = health.last_error ?? '';
  toggle.textContent = camera.enabled ? 'Disable' : 'Enable';
  toggle.title = camera.enabled ? 'Stop recording this camera' : 'Record this camera again';
}

async function setEnabled(camera, enabled) {
  try {
    store.put(await camerasApi.update(camera.id, { enabled }));
    toast(`${camera.name} ${enabled ? 'enabled' : 'disabled'}`, 'ok');
  } catch (err) {
    toast(`Could not change ${camera.name}: ${err.message}`, 'error');
  }
}

async function removeCamera(camera) {
  const ok = await confirmDialog(
    `Remove camera “${camera.name}” together with all its recordings? This cannot be undone.`,
    { ok: 'Remove', danger: true },
  );
  if (!ok) return;
  try {
    await camerasApi.remove(camera.id);
    store.delete(camera.id);
    toast(`${camera.name} removed`, 'ok');
  } catch (err) {
    toast(`Could not remove ${camera.name}: ${err.message}`, 'error');
  }
}

// The add/edit form --------------------------------------------------------------------------

const FIELDS = [
  { name: 'name', label: 'Name', required: true, maxlength: 120, hint: 'Unique; shown to operators.' },
  { name: 'main_url', label: 'Main stream URL', required: true, hint: 'rtsp://host:554/path (recorded). User name and password go below.', check: checkUrl },
  { name: 'sub_url', label: 'Sub-stream URL', hint: 'Optional lower-resolution stream.', check: checkUrl },
  { name: 'username', label: 'User name', autocomplete: 'off' },
  { name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password' },
  { name: 'location', label: 'Location', hint: 'Where it is, e.g. “Main gate, north pole 3”.' },
  { name: 'notes', label: 'Notes', textarea: true },
  { name: 'retention_days', label: 'Retention (days)', type: 'number', step: 'any', min: '0', hint: 'Empty: the storage default.' },
  { name: 'recording_mode', label: 'Recording', default: 'continuous',
    options: [['continuous', 'Continuous'], ['events', 'Only around events']],
    hint: 'Only around events: footage that rules ask to record, with a short pre-buffer.' },
  { name: 'event_retention_days', label: 'Keep footage around events (days)', type: 'number', step: 'any', min: '0',
    hint: 'Empty: like the rest of the footage.' },
];

/** A client-side hint about a stream URL, or null. The server has the last word. */
function checkUrl(value) {
  if (!value) return null;
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value.trim());
  if (!m) return 'Expected a URL such as rtsp://192.0.2.10:554/stream1';
  if (!SCHEMES.includes(m[1].toLowerCase())) return `Vigil reads ${SCHEMES.join(', ')} URLs`;
  if (/^[a-z0-9+.-]+:\/\/[^/]*@/i.test(value.trim())) return 'Put credentials in the user name and password fields';
  return null;
}

class CameraForm {
  constructor(root, cameraId) {
    this.cameraId = cameraId;
    this.camera = cameraId ? store.get(cameraId) : null;
    this.inputs = {};
    this.errors = {};
    this.hints = {};
    this.formError = h('div', { class: 'banner error', hidden: true, dataset: { testid: 'form-error' } });
    this.clearPassword = h('input', { type: 'checkbox', id: 'f-clear-password' });
    this.enabled = h('input', { type: 'checkbox', id: 'f-enabled', checked: true, dataset: { testid: 'field-enabled' } });
    this.submit = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { testid: 'save-camera' } },
      cameraId ? 'Save' : 'Add camera');

    const rows = [...FIELDS.map((f) => this.fieldRow(f)), this.nodeRow()];
    this.form = h('form', { class: 'camera-form', novalidate: true, dataset: { testid: 'camera-form' },
      onsubmit: (e) => { e.preventDefault(); this.save(); } },
      h('h2', {}, cameraId ? 'Edit camera' : 'Add camera'),
      this.formError,
      rows,
      h('div', { class: 'field field-check' }, this.clearPassword,
        h('label', { for: 'f-clear-password' }, 'Remove the stored password')),
      h('div', { class: 'field field-check' }, this.enabled,
        h('label', { for: 'f-enabled' }, 'Enabled (recorded and shown live)')),
      h('div', { class: 'form-actions' },
        cameraId ? h('a', { href: `#/camera/${cameraId}/privacy-masks`, class: 'btn', dataset: { testid: 'form-privacy-masks' } }, 'Privacy masks…') : null,
        h('a', { href: '#/cameras', class: 'btn', dataset: { testid: 'cancel-form' } }, 'Cancel'), this.submit));
    this.drawer = h('div', { class: 'drawer-backdrop', onclick: (e) => e.target === this.drawer && close() },
      h('div', { class: 'drawer' }, this.form));
    this.onKey = (e) => { if (e.key === 'Escape') close(); };
    document.addEventListener('keydown', this.onKey);
    root.append(this.drawer);
    this.fill();
    this.inputs.name.focus();
    if (cameraId && !this.camera) {
      camerasApi.get(cameraId).then((c) => { this.camera = c; this.fill(); })
        .catch((err) => this.showError(err.message));
    }
  }

  destroy() {
    document.removeEventListener('keydown', this.onKey);
    this.drawer.remove();
  }

  fieldRow(f) {
    const id = `f-${f.name}`;
    const input = f.textarea
      ? h('textarea', { id, name: f.name, rows: 3, class: 'input' })
      : f.options
      ? h('select', { id, name: f.name, class: 'input' },
        f.options.map(([value, text]) => h('option', { value }, text)))
      : h('input', { id, name: f.name, type: f.type ?? 'text', class: 'input', maxlength: f.maxlength,
        step: f.step, min: f.min, autocomplete: f.autocomplete, required: f.required });
    input.dataset.testid = `field-${f.name}`;
    const hint = h('div', { class: 'hint' }, f.hint ?? '');
    const error = h('div', { class: 'field-error', dataset: { testid: `error-${f.name}` }, hidden: true });
    input.addEventListener('input', () => {
      this.setFieldError(f.name, null); // the server's word no longer applies
      const problem = f.check?.(input.value) ??
        (f.required && !input.value.trim() ? `${f.label} is required` : null);
      hint.textContent = problem ?? f.hint ?? '';
      hint.classList.toggle('warn', Boolean(problem));
    });
    this.inputs[f.name] = input;
    this.errors[f.name] = error;
    this.hints[f.name] = hint;
    return h('div', { class: 'field' },
      h('label', { for: id }, f.label, f.required ? h('span', { class: 'req', title: 'required' }, ' *') : null),
      input, error, hint);
  }

  fill() {
    const c = this.camera;
    for (const f of FIELDS) {
      if (f.name === 'password') continue;
      this.inputs[f.name].value = c?.[f.name] ?? f.default ?? '';
    }
    this.inputs.password.placeholder = c?.has_password ? '•••••• (unchanged if empty)' : '';
    this.clearPassword.parentElement.hidden = !c?.has_password;
    this.enabled.checked = c ? c.enabled : true;
    this.fillNodes();
  }

  /** "Recorder node": pinned to one, or automatic (placed by capacity); and where it is
   * recorded now. The nodes come from the server (GET /api/nodes). */
  nodeRow() {
    const id = 'f-pinned_node';
    this.nodes = [];
    this.inputs.pinned_node = h('select', { id, name: 'pinned_node', class: 'input', dataset: { testid: 'field-pinned_node' } });
    this.inputs.pinned_node.addEventListener('change', (e) => { e.target.dataset.touched = 'true'; });
    this.errors.pinned_node = h('div', { class: 'field-error', dataset: { testid: 'error-pinned_node' }, hidden: true });
    this.nodeHint = h('div', { class: 'hint', dataset: { testid: 'camera-recorded-on' } });
    nodesApi.list().then((nodes) => { this.nodes = nodes; this.fillNodes(); })
      .catch((err) => { this.nodeHint.textContent = `Recorder nodes not loaded: ${err.message}`; });
    return h('div', { class: 'field' }, h('label', { for: id }, 'Recorder node'),
      this.inputs.pinned_node, this.errors.pinned_node, this.nodeHint);
  }

  fillNodes() {
    const c = this.camera;
    // A choice the user made before the nodes arrived stays (under load they come late).
    const select = this.inputs.pinned_node;
    const pinned = select.dataset.touched ? select.value : (c?.pinned_node ?? '');
    const names = this.nodes.map((n) => n.name);
    const label = (n) => `${n.name}${n.alive ? '' : ' (down)'}${n.draining ? ' (draining)' : ''}`;
    replace(this.inputs.pinned_node,
      h('option', { value: '' }, 'Automatic (by capacity)'),
      this.nodes.map((n) => h('option', { value: n.name }, label(n))),
      pinned && !names.includes(pinned) ? h('option', { value: pinned }, `${pinned} (not registered)`) : null);
    this.inputs.pinned_node.value = pinned;
    // From the nodes just fetched, not the camera list's copy (it may predate a move).
    const where = this.nodes.find((n) => (n.cameras ?? []).includes(this.cameraId))?.name;
    this.nodeHint.textContent = !c ? 'Automatic: the node with the most room records it.'
      : where ? `Recorded on ${where} now.` : 'Not recorded on any node now.';
  }

  /** The request body: for an edit, only what changed. */
  body() {
    const body = {};
    for (const f of FIELDS) {
      const raw = this.inputs[f.name].value.trim();
      let value = raw === '' ? null : raw;
      if (f.type === 'number' && value !== null) value = Number(value);
      if (f.name === 'password') {
        if (value !== null) body.password = this.inputs.password.value;
        continue;
      }
      if (!this.camera || (this.camera[f.name] ?? null) !== value) body[f.name] = value;
    }
    if (this.camera && this.clearPassword.checked && body.password === undefined) body.password = null;
    if (!this.camera || this.camera.enabled !== this.enabled.checked) body.enabled = this.enabled.checked;
    const pinned = this.inputs.pinned_node.value || null;
    if (!this.camera || (this.camera.pinned_node ?? null) !== pinned) body.pinned_node = pinned;
    if (!this.camera) for (const k of Object.keys(body)) if (body[k] === null) delete body[k];
    return body;
  }

  setFieldError(name, message) {
    const el = this.errors[name];
    if (!el) return false;
    el.textContent = message ?? '';
    el.hidden = !message;
    this.inputs[name].classList.toggle('invalid', Boolean(message));
    this.inputs[name].setAttribute('aria-invalid', message ? 'true' : 'false');
    return true;
  }

  showError(message) {
    this.formError.textContent = message ?? '';
    this.formError.hidden = !message;
  }

  async save() {
    for (const name of Object.keys(this.inputs)) this.setFieldError(name, null);
    this.showError(null);
    this.submit.disabled = true;
    try {
      const body = this.body();
      const saved = this.camera
        ? await camerasApi.update(this.camera.id, body)
        : await camerasApi.create(body);
      store.put(saved);
      toast(this.camera ? `${saved.name} saved` : `${saved.name} added`, 'ok');
      close();
    } catch (err) {
      const unplaced = [];
      for (const [field, message] of Object.entries(err.fields ?? {})) {
        if (!this.setFieldError(field.split('.')[0], cleanMessage(message))) unplaced.push(`${field}: ${message}`);
      }
      const first = Object.keys(err.fields ?? {}).map((f) => this.inputs[f.split('.')[0]]).find(Boolean);
      first?.focus();
      if (!Object.keys(err.fields ?? {}).length || unplaced.length) {
        this.showError(unplaced.length ? unplaced.join('; ') : err.message);
      }
    } finally {
      this.submit.disabled = false;
    }
  }
}

/** Pydantic prefixes custom errors with "Value error, "; the rest is the server's message. */
function cleanMessage(message) {
  return message.replace(/^Value error, /, '');
}

function close() {
  location.hash = '#/cameras';
}
