// Small DOM and formatting helpers shared by the views. No framework: `h` builds elements.

/**
 * Build an element: h('button', { class: 'btn', onclick: fn, dataset: { testid: 'x' } }, 'Label').
 * Attributes starting with "on" become listeners; `dataset` and `style` objects are merged;
 * null/false attributes and children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'style' && typeof value === 'object') {
      for (const [prop, v] of Object.entries(value)) el.style.setProperty(prop.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), v);
    } else if (key in el && typeof value !== 'string') {
      el[key] = value; // properties such as checked, value, disabled
    } else {
      el.setAttribute(key, value === true ? '' : value);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/**
 * Whether a key press is the page's to act on: not typed into a field, and with no Ctrl, Alt
 * or Meta held (those belong to the browser). Every view's shortcuts start with it.
 */
export function isShortcut(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return false;
  return !e.target.closest?.('input, select, textarea, [contenteditable]');
}

/** Replace the children of an element. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// Times: always the browser's local time zone, always with the date.
const pad = (n, w = 2) => String(n).padStart(w, '0');

/** "2026-11-21 14:03:07" in local time (milliseconds with `ms`). */
export function formatDateTime(date, { ms = false } = {}) {
  if (!date) return '—';
  const d = date instanceof Date ? date : new Date(date);
  if (Number.isNaN(d.getTime())) return '—';
  const s = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return ms ? `${s}.${pad(d.getMilliseconds(), 3)}` : s;
}

/** "14:03" or "14:03:07" in local time, for axis labels. */
export function formatClock(date, { seconds = false } = {}) {
  const d = date instanceof Date ? date : new Date(date);
  const s = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return seconds ? `${s}:${pad(d.getSeconds())}` : s;
}

/** "2026-11-21", local. */
export function formatDay(date) {
  const d = date instanceof Date ? date : new Date(date);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Value for <input type="datetime-local" step="1">, local time. */
export function toLocalInput(date) {
  return formatDateTime(date).replace(' ', 'T');
}

/** Parse an <input type="datetime-local"> value (local time); null when empty or invalid. */
export function fromLocalInput(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** The local time zone as "UTC+01:00". */
export function zoneLabel(date = new Date()) {
  const off = -date.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  return `UTC${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
}

/** "3 s ago", "5 min ago", "2 h ago" (or the date when older than a day). */
export function formatAgo(date, now = Date.now()) {
  if (!date) return '—';
  const t = new Date(date).getTime();
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return formatDateTime(date);
}

/** "4 min 10 s" for a duration in seconds. */
export function formatDuration(seconds) {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
}

export const formatFps = (fps) => (fps ? fps.toFixed(1) : '0');
export const formatKbps = (bps) => (bps ? Math.round(bps / 1000).toLocaleString('en') : '0');
export const formatBytes = (n) =>
  n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.round(n / 1e3)} kB`;
export const formatResolution = (health) =>
  health?.width && health?.height ? `${health.width}×${health.height}` : '—';

const STATUS_LABELS = {
  online: 'Online',
  offline: 'Offline',
  connecting: 'Connecting',
  disabled: 'Disabled',
  storage_full: 'Storage full',
};

/** A coloured status badge for a camera status. */
export function statusBadge(status, extra = {}) {
  return h(
    'span',
    { class: `badge status-${status}`, dataset: { status, testid: 'status-badge' }, ...extra },
    STATUS_LABELS[status] ?? status,
  );
}

export const statusLabel = (status) => STATUS_LABELS[status] ?? status;

// Why a camera is not online, in the kinds the server names (health.problem) and what to do.
const PROBLEM_LABELS = {
  unreachable: ['Unreachable', 'Check the network and the camera\'s power'],
  wrong_credentials: ['Wrong credentials', 'Correct the user name and password in the camera\'s settings'],
  unsupported: ['Unsupported stream', 'Choose another stream or codec in the camera'],
};

/** A line naming a camera's problem and what to do about it (null when it has none). */
export function problemNote(health) {
  const known = PROBLEM_LABELS[health?.problem];
  if (!known) return null;
  return h('span', { class: 'sub problem error-text', title: known[1], dataset: { testid: 'camera-problem', problem: health.problem } }, known[0]);
}

// Notifications --------------------------------------------------------------------------

/** Show a short message at the bottom right; kind: "info" | "ok" | "error". */
export function toast(message, kind = 'info', ms = 5000) {
  let area = document.getElementById('toasts');
  if (!area) {
    area = h('div', { id: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(area);
  }
  const el = h('div', { class: `toast toast-${kind}`, dataset: { testid: 'toast' } }, message);
  area.append(el);
  setTimeout(() => el.remove(), ms);
}

/** A modal yes/no question; resolves to true when confirmed. */
export function confirmDialog(message, { ok = 'OK', danger = false } = {}) {
  return new Promise((resolve) => {
    const close = (answer) => {
      document.removeEventListener('keydown', onKey);
      backdrop.remove();
      resolve(answer);
    };
    const onKey = (e) => {
      if (e.key === 'Escape') close(false);
    };
    const okButton = h(
      'button',
      { class: danger ? 'btn btn-danger' : 'btn btn-primary', dataset: { testid: 'confirm-ok' }, onclick: () => close(true) },
      ok,
    );
    const backdrop = h(
      'div',
      { class: 'modal-backdrop', onclick: (e) => e.target === backdrop && close(false) },
      h(
        'div',
        { class: 'modal', role: 'dialog', 'aria-modal': 'true', dataset: { testid: 'confirm-dialog' } },
        h('p', {}, message),
        h(
          'div',
          { class: 'modal-actions' },
          h('button', { class: 'btn', dataset: { testid: 'confirm-cancel' }, onclick: () => close(false) }, 'Cancel'),
          okButton,
        ),
      ),
    );
    document.addEventListener('keydown', onKey);
    document.body.append(backdrop);
    okButton.focus();
  });
}

/**
 * A modal asking for a line (or, with `multiline`, a text); resolves to the trimmed text, or
 * null when cancelled. `required` keeps OK disabled while the answer is empty.
 */
export function promptDialog(message, {
  ok = 'OK', value = '', placeholder = '', multiline = false, required = true, testid = 'prompt-dialog',
} = {}) {
  return new Promise((resolve) => {
    const close = (answer) => {
      document.removeEventListener('keydown', onKey);
      backdrop.remove();
      resolve(answer);
    };
    const onKey = (e) => {
      if (e.key === 'Escape') close(null);
    };
    const input = multiline
      ? h('textarea', { class: 'input', rows: 3, placeholder, dataset: { testid: 'prompt-input' } })
      : h('input', { class: 'input', placeholder, dataset: { testid: 'prompt-input' } });
    input.value = value;
    const okButton = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { testid: 'prompt-ok' } }, ok);
    const sync = () => { okButton.disabled = required && !input.value.trim(); };
    input.addEventListener('input', sync);
    sync();
    const backdrop = h(
      'div',
      { class: 'modal-backdrop', onclick: (e) => e.target === backdrop && close(null) },
      h(
        'form',
        { class: 'modal', role: 'dialog', 'aria-modal': 'true', dataset: { testid: testid },
          onsubmit: (e) => { e.preventDefault(); if (!okButton.disabled) close(input.value.trim()); } },
        h('p', {}, message),
        h('div', { class: 'field' }, input),
        h(
          'div',
          { class: 'modal-actions' },
          h('button', { type: 'button', class: 'btn', dataset: { testid: 'prompt-cancel' }, onclick: () => close(null) }, 'Cancel'),
          okButton,
        ),
      ),
    );
    document.addEventListener('keydown', onKey);
    document.body.append(backdrop);
    input.focus();
  });
}

/** Show a player's state on its overlay (hidden when there is no message). */
export function showOverlay(overlay, state, message) {
  if (!overlay) return;
  overlay.textContent = message;
  overlay.hidden = !message;
  overlay.dataset.state = state;
}

// Forms -----------------------------------------------------------------------------------

let fieldSeq = 0;

/**
 * A labelled form field with a place for the server's message about it:
 * { el, input, setError(message) }. `name` gives the test ids `field-<name>`/`error-<name>`.
 */
export function formField(label, input, { name, hint = null, required = false } = {}) {
  if (!input.id) input.id = `ff-${name ?? 'x'}-${++fieldSeq}`;
  if (name && !input.dataset.testid) input.dataset.testid = `field-${name}`;
  const error = h('div', { class: 'field-error', hidden: true, dataset: { testid: `error-${name}` } });
  const setError = (message) => {
    error.textContent = message ?? '';
    error.hidden = !message;
    input.classList.toggle('invalid', Boolean(message));
    input.setAttribute('aria-invalid', message ? 'true' : 'false');
  };
  input.addEventListener('input', () => setError(null)); // the server's word no longer applies
  const el = h('div', { class: 'field' },
    h('label', { for: input.id }, label, required ? h('span', { class: 'req', title: 'required' }, ' *') : null),
    input, error, hint ? h('div', { class: 'hint' }, hint) : null);
  return { el, input, setError };
}

/** Pydantic prefixes custom errors with "Value error, "; the rest is the server's message. */
export const cleanMessage = (message) => String(message).replace(/^Value error, /, '');

/**
 * A modal dialog holding `content` (closed by Escape, the backdrop or `close()`); resolves
 * nothing, returns { el, close }. `onClose` runs once when it closes.
 */
export function openModal(content, { testid = 'modal', wide = false, onClose } = {}) {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    document.removeEventListener('keydown', onKey);
    backdrop.remove();
    onClose?.();
  };
  const onKey = (e) => {
    if (e.key === 'Escape') close();
  };
  const el = h('div', { class: `modal${wide ? ' modal-wide' : ''}`, role: 'dialog', 'aria-modal': 'true', dataset: { testid } }, content);
  const backdrop = h('div', { class: 'modal-backdrop', onclick: (e) => e.target === backdrop && close() }, el);
  document.addEventListener('keydown', onKey);
  document.body.append(backdrop);
  return { el, close };
}
