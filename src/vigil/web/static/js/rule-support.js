// What rules refer to: time profiles (when a rule is armed) and camera groups (which cameras
// a trigger listens to). Listed with a small create form and delete; the server refuses to
// delete one a rule still uses, and says which.

import { cameraGroups, timeProfiles } from './api.js';
import { store } from './store.js';
import { confirmDialog, h, replace, toast } from './ui.js';

const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** Mount both panels into `root`; `onChange` runs after a create or delete. Returns unmount. */
export function mountSupport(root, { onChange } = {}) {
  const profiles = new ProfilePanel(onChange);
  const groups = new GroupPanel(onChange);
  replace(root, profiles.el, groups.el);
  const onCameras = () => groups.renderCameras();
  store.addEventListener('change', onCameras);
  return () => store.removeEventListener('change', onCameras);
}

function panel(title, testid, list, form) {
  return h('section', { class: 'support-panel', dataset: { testid } }, h('h2', {}, title), list, form);
}

/** Put a 422's field messages (or the message) under a small form. */
function showFailure(errorEl, err) {
  const fields = Object.entries(err.fields ?? {}).map(([f, m]) => `${f}: ${m.replace(/^Value error, /, '')}`);
  errorEl.textContent = fields.length ? fields.join('; ') : err.message;
  errorEl.hidden = false;
}

class ProfilePanel {
  constructor(onChange) {
    this.onChange = onChange;
    this.list = h('ul', { class: 'support-list', dataset: { testid: 'profile-list' } });
    this.error = h('div', { class: 'field-error', hidden: true, dataset: { testid: 'profile-error' } });
    this.name = h('input', { class: 'input input-small', placeholder: 'Name, e.g. Nights', dataset: { testid: 'profile-name' } });
    this.zone = h('input', { class: 'input input-small', value: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC',
      size: 14, title: 'IANA time zone', dataset: { testid: 'profile-timezone' } });
    this.days = DAYS.map((d, i) => h('input', { type: 'checkbox', value: String(i), checked: i < 5 }));
    this.start = h('input', { class: 'input input-small', type: 'time', value: '18:00', dataset: { testid: 'profile-start' } });
    this.end = h('input', { class: 'input input-small', type: 'time', value: '06:00', dataset: { testid: 'profile-end' } });
    this.holidays = h('input', { class: 'input input-small', placeholder: '2026-12-25, 2027-01-01', size: 22,
      title: 'Holidays (YYYY-MM-DD, comma-separated)', dataset: { testid: 'profile-holidays' } });
    this.onHolidays = h('input', { type: 'checkbox', title: 'Armed all day on holidays (else not at all)' });
    const form = h('form', { class: 'support-form', onsubmit: (e) => { e.preventDefault(); this.create(); } },
      h('div', { class: 'support-row' }, this.name, this.zone),
      h('div', { class: 'support-row days' }, this.days.map((box, i) => h('label', { class: 'check-option' }, box, DAYS[i]))),
      h('div', { class: 'support-row' }, 'from', this.start, 'to', this.end,
        h('span', { class: 'hint' }, 'an end before the start runs past midnight')),
      h('div', { class: 'support-row' }, this.holidays,
        h('label', { class: 'check-option' }, this.onHolidays, 'armed on holidays')),
      this.error,
      h('button', { class: 'btn btn-small', dataset: { testid: 'add-profile' } }, '+ Add time profile'));
    this.el = panel('Time profiles', 'time-profiles', this.list, form);
    this.load();
  }

  async load() {
    try {
      const profiles = await timeProfiles.list();
      replace(this.list, profiles.length ? profiles.map((p) => h('li', { dataset: { testid: 'profile-row', id: p.id } },
        h('span', { class: `dot ${p.active_now ? 'status-online' : 'status-disabled'}`, title: p.active_now ? 'Armed now' : 'Not armed now' }),
        h('strong', {}, p.name),
        h('span', { class: 'meta' }, ` ${p.windows.map(windowText).join('; ')} (${p.timezone})`),
        h('span', { class: 'spacer' }),
        h('button', { class: 'btn btn-small btn-danger', dataset: { testid: 'remove-profile' }, onclick: () => this.remove(p) }, 'Delete')))
        : h('li', { class: 'meta' }, 'None: rules are always armed.'));
    } catch (err) {
      replace(this.list, h('li', { class: 'error-text' }, `Not loaded: ${err.message}`));
    }
  }

  async create() {
    this.error.hidden = true;
    const days = this.days.filter((b) => b.checked).map((b) => Number(b.value));
    const holidays = this.holidays.value.split(',').map((s) => s.trim()).filter(Boolean);
    try {
      await timeProfiles.create({
        name: this.name.value.trim(), timezone: this.zone.value.trim(), holidays, on_holidays: this.onHolidays.checked,
        windows: days.length ? [{ days, start: this.start.value, end: this.end.value }] : [],
      });
      toast(`Time profile “${this.name.value.trim()}” added`, 'ok');
      this.name.value = '';
      this.load();
      this.onChange?.();
    } catch (err) {
      showFailure(this.error, err);
    }
  }

  async remove(p) {
    if (!await confirmDialog(`Delete the time profile “${p.name}”?`, { ok: 'Delete', danger: true })) return;
    try {
      await timeProfiles.remove(p.id);
      this.load();
      this.onChange?.();
    } catch (err) {
      toast(`Could not delete “${p.name}”: ${err.message}`, 'error', 8000);
    }
  }
}

function windowText(w) {
  const days = w.days.length === 7 ? 'every day' : w.days.map((d) => DAYS[d]).join(' ');
  return `${days} ${w.start.slice(0, 5)}–${w.end.slice(0, 5)}`;
}

class GroupPanel {
  constructor(onChange) {
    this.onChange = onChange;
    this.list = h('ul', { class: 'support-list', dataset: { testid: 'group-list' } });
    this.error = h('div', { class: 'field-error', hidden: true, dataset: { testid: 'group-error' } });
    this.name = h('input', { class: 'input input-small', placeholder: 'Name, e.g. Car parks', dataset: { testid: 'group-name' } });
    this.description = h('input', { class: 'input input-small', placeholder: 'Description (optional)' });
    this.cameras = h('div', { class: 'multi', dataset: { testid: 'group-cameras' } });
    const form = h('form', { class: 'support-form', onsubmit: (e) => { e.preventDefault(); this.create(); } },
      h('div', { class: 'support-row' }, this.name, this.description),
      this.cameras, this.error,
      h('button', { class: 'btn btn-small', dataset: { testid: 'add-group' } }, '+ Add camera group'));
    this.el = panel('Camera groups', 'camera-groups', this.list, form);
    this.renderCameras();
    this.load();
  }

  /** The camera checkboxes (again when the camera list changes; ticks are kept). */
  renderCameras() {
    const cams = store.cameras;
    const sig = cams.map((c) => `${c.id}:${c.name}`).join('|');
    if (sig === this.camerasSig) return;
    this.camerasSig = sig;
    const ticked = new Set([...this.cameras.querySelectorAll('input:checked')].map((b) => b.value));
    replace(this.cameras, cams.length
      ? cams.map((c) => h('label', { class: 'check-option', dataset: { testid: 'option', value: c.id } },
        h('input', { type: 'checkbox', value: String(c.id), checked: ticked.has(String(c.id)) }), c.name))
      : h('span', { class: 'meta' }, 'No cameras yet.'));
  }

  async load() {
    try {
      const groups = await cameraGroups.list();
      const names = new Map(store.cameras.map((c) => [c.id, c.name]));
      replace(this.list, groups.length ? groups.map((g) => h('li', { dataset: { testid: 'group-row', id: g.id } },
        h('strong', {}, g.name),
        h('span', { class: 'meta' }, ` ${g.camera_ids.map((id) => names.get(id) ?? `#${id}`).join(', ') || 'no cameras'}`),
        h('span', { class: 'spacer' }),
        h('button', { class: 'btn btn-small btn-danger', dataset: { testid: 'remove-group' }, onclick: () => this.remove(g) }, 'Delete')))
        : h('li', { class: 'meta' }, 'None yet.'));
    } catch (err) {
      replace(this.list, h('li', { class: 'error-text' }, `Not loaded: ${err.message}`));
    }
  }

  async create() {
    this.error.hidden = true;
    const ids = [...this.cameras.querySelectorAll('input:checked')].map((b) => Number(b.value));
    try {
      await cameraGroups.create({ name: this.name.value.trim(), description: this.description.value.trim() || null, camera_ids: ids });
      toast(`Camera group “${this.name.value.trim()}” added`, 'ok');
      this.name.value = '';
      this.description.value = '';
      for (const box of this.cameras.querySelectorAll('input:checked')) box.checked = false;
      this.load();
      this.onChange?.();
    } catch (err) {
      showFailure(this.error, err);
    }
  }

  async remove(g) {
    if (!await confirmDialog(`Delete the camera group “${g.name}”?`, { ok: 'Delete', danger: true })) return;
    try {
      await cameraGroups.remove(g.id);
      this.load();
      this.onChange?.();
    } catch (err) {
      toast(`Could not delete “${g.name}”: ${err.message}`, 'error', 8000);
    }
  }
}
