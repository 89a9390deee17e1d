// Pieces shared by the administration pages: the drawer a form opens in, checkbox lists,
// the camera scope picker (all cameras / the assignment's cameras / listed groups and
// cameras), scopes as text, and placing the server's 422 messages next to what they name.

import { P } from './session.js';
import { cleanMessage, h, replace } from './ui.js';

/** What each permission lets a user do, for checkboxes and summaries. */
export const PERMISSIONS = [
  [P.LIVE, 'live', 'watch live video'],
  [P.PLAYBACK, 'playback', 'watch recordings'],
  [P.EXPORT, 'export', 'take video out (exports, evidence)'],
  [P.PTZ, 'PTZ', 'move cameras'],
  [P.SEARCH, 'search', 'forensic search'],
  [P.ALARMS, 'alarms', 'work the alarm queue'],
  [P.UNMASK, 'unmask', 'see video without privacy masks'],
  [P.MANAGE, 'manage', 'configure cameras, rules, users (all cameras only)'],
  [P.AUDIT, 'audit', 'read the audit trail (all cameras only)'],
  [P.INPUTS, 'inputs', 'send sensor events in (all cameras only)'],
];

/** Open `content` in the side drawer; returns { close }. Escape and the backdrop close it. */
export function openDrawer(content, { onClose, wide = true } = {}) {
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
  const backdrop = h('div', { class: 'drawer-backdrop', onclick: (e) => e.target === backdrop && close() },
    h('div', { class: `drawer${wide ? ' drawer-wide' : ''}` }, content));
  document.addEventListener('keydown', onKey);
  document.body.append(backdrop);
  return { close };
}

/**
 * Checkboxes for `options` ([value, label, title?]); `values()` gives the ticked values.
 * Each box carries `data-value` inside the list's test id.
 */
export function checkList(options, selected = [], { testid, disabled = false } = {}) {
  const chosen = new Set(selected.map(String));
  const boxes = options.map(([value, label, title]) => {
    const box = h('input', { type: 'checkbox', value: String(value), checked: chosen.has(String(value)), disabled });
    return { value, box, el: h('label', { class: 'check-option', title, dataset: { value: String(value) } }, box, label) };
  });
  const el = h('div', { class: 'multi', dataset: { testid } },
    boxes.length ? boxes.map((b) => b.el) : h('span', { class: 'meta' }, 'none to choose from'));
  return { el, values: () => boxes.filter((b) => b.box.checked).map((b) => b.value) };
}

/**
 * Choose a scope of cameras. `allowAssigned` offers "the cameras of the assignment" (a
 * role's grant); `lookups` has `cameras` and `groups` lists ({ id, name }).
 * Returns { el, value() } with value() in the API's shape.
 */
export function scopePicker(scope, lookups, { allowAssigned = false, testid = 'scope', disabled = false } = {}) {
  const kinds = [['all', 'All cameras'], ...(allowAssigned ? [['assigned', 'The cameras each user is given']] : []),
    ['listed', 'Only these groups and cameras']];
  const kind = h('select', { class: 'input input-small', disabled, dataset: { testid: `${testid}-kind` } },
    kinds.map(([v, label]) => h('option', { value: v }, label)));
  kind.value = scope?.assigned && allowAssigned ? 'assigned'
    : scope && !scope.all && !scope.assigned && (scope.groups?.length || scope.cameras?.length) ? 'listed' : 'all';
  const groups = checkList(lookups.groups.map((g) => [g.id, g.name]), scope?.groups ?? [], { testid: `${testid}-groups`, disabled });
  const cameras = checkList(lookups.cameras.map((c) => [c.id, c.name]), scope?.cameras ?? [], { testid: `${testid}-cameras`, disabled });
  const listed = h('div', { class: 'scope-listed' },
    h('div', { class: 'hint' }, 'Camera groups'), groups.el, h('div', { class: 'hint' }, 'Cameras'), cameras.el);
  const sync = () => { listed.hidden = kind.value !== 'listed'; };
  kind.addEventListener('change', sync);
  sync();
  return {
    el: h('div', { class: 'scope-picker', dataset: { testid } }, kind, listed),
    value: () => {
      if (kind.value === 'all') return { all: true };
      if (kind.value === 'assigned') return { assigned: true };
      return { groups: groups.values().map(Number), cameras: cameras.values().map(Number) };
    },
  };
}

/** "all cameras", "the assigned cameras", or "group Car parks, Gate". */
export function scopeText(scope, lookups) {
  if (!scope || scope.all) return 'all cameras';
  if (scope.assigned) return 'the assigned cameras';
  const name = (list, id) => list.find((x) => x.id === id)?.name ?? `#${id}`;
  const parts = [...(scope.groups ?? []).map((id) => `group ${name(lookups.groups, id)}`),
    ...(scope.cameras ?? []).map((id) => name(lookups.cameras, id))];
  return parts.length ? parts.join(', ') : 'no camera';
}

/** "live, playback on all cameras" for a role's grant. */
export function grantText(grant, lookups) {
  return `${grant.permissions.join(', ')} on ${scopeText(grant.scope, lookups)}`;
}

/**
 * Put an ApiError's field messages where they belong: `targets` maps a field path prefix
 * ("username", "roles.0", "roles") to a setError function; the longest matching prefix wins.
 * What finds no place goes to `fallback` (with the whole message when no field was named).
 */
export function placeErrors(err, targets, fallback) {
  const unplaced = [];
  const entries = Object.entries(err.fields ?? {});
  for (const [field, message] of entries) {
    const parts = field.split('.');
    let placed = false;
    for (let n = parts.length; n > 0 && !placed; n--) {
      const set = targets[parts.slice(0, n).join('.')];
      if (set) {
        set(cleanMessage(message));
        placed = true;
      }
    }
    if (!placed) unplaced.push(`${field}: ${cleanMessage(message)}`);
  }
  fallback(entries.length ? (unplaced.join('; ') || null) : err.message);
}

/** An error banner with a `show(message)` (null hides it). */
export function errorBanner(testid) {
  const el = h('div', { class: 'banner error', hidden: true, role: 'alert', dataset: { testid } });
  el.show = (message) => {
    el.textContent = message ?? '';
    el.hidden = !message;
  };
  return el;
}

/** A small message element under a group of inputs, with `set(message)`. */
export function groupError(testid) {
  const el = h('div', { class: 'field-error', hidden: true, dataset: { testid } });
  el.set = (message) => {
    replace(el, message ?? '');
    el.hidden = !message;
  };
  return el;
}
