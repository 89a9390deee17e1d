// Registers (#/admin/registers): lists of vehicles whose plates every reading is looked up
// in (stolen, wanted, blocked, permits, watch), filled by hand, from a CSV file (plate,
// reason, source, owner, valid_from, valid_until; action=delete removes) or kept in step
// with a URL; and lists of persons, enrolled from photos of their face, for the cameras
// where face matching is switched on. A rule on "watchlist.hit" turns a hit into an alarm.
// Each register's access names the roles that see it, edit its entries and are alerted by
// its hits (none ticked: readers see, administrators edit, everyone is alerted).

import { errorBanner, placeErrors } from './admin-kit.js';
import { registers as registersApi, roles as rolesApi } from './api.js';
import { confirmDialog, formatDateTime, formField, h, replace, toast } from './ui.js';

const CATEGORIES = [
  ['stolen', 'Stolen'], ['wanted', 'Wanted'], ['blocked', 'Blocked'], ['permit', 'Permits'], ['watch', 'Watch'],
];

export function mount(root) {
  const page = new RegistersPage(root);
  return () => page.destroy();
}

class RegistersPage {
  constructor(root) {
    this.error = errorBanner('registers-error');
    this.formError = errorBanner('register-form-error');
    this.tbody = h('tbody');
    this.entries = h('div', { class: 'register-entries', dataset: { testid: 'register-entries' } });
    this.name = formField('Name', h('input', { class: 'input', maxlength: 120, placeholder: 'e.g. Stolen vehicles (MVR)' }),
      { name: 'register-name', required: true });
    this.kind = formField('Lists', h('select', { class: 'input' },
      [['vehicles', 'Vehicles (plates)'], ['persons', 'Persons (faces)']].map(([v, label]) => h('option', { value: v }, label))),
    { name: 'register-kind' });
    this.category = formField('Category', h('select', { class: 'input' },
      CATEGORIES.map(([v, label]) => h('option', { value: v }, label))), { name: 'register-category' });
    this.url = formField('Keep in step with', h('input', { class: 'input', type: 'url', placeholder: 'https://register.example/stolen.csv' }),
      { name: 'register-url', hint: 'Optional: a CSV file fetched every hour (the whole register).' });
    this.fuzzy = h('input', { type: 'checkbox', checked: true, dataset: { testid: 'field-register-fuzzy' } });
    this.submit = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { testid: 'create-register' } }, 'Add register');
    const form = h('form', { class: 'panel', novalidate: true, dataset: { testid: 'register-form' },
      onsubmit: (e) => { e.preventDefault(); this.create(); } },
    h('h2', {}, 'New register'), this.formError,
    h('div', { class: 'field-row' }, this.name.el, this.kind.el, this.category.el, this.url.el),
    h('label', { class: 'check-option' }, this.fuzzy, ' A reading one character away (0/O, 8/B...) matches too'),
    h('div', { class: 'form-actions' }, this.submit));
    replace(root, form, this.error,
      h('table', { class: 'table', dataset: { testid: 'register-table' } },
        h('thead', {}, h('tr', {}, ['Register', 'Category', 'Entries', 'Valid now', 'Sync', ''].map((t) => h('th', {}, t)))),
        this.tbody),
      this.entries);
    this.load();
  }

  destroy() {}

  async load() {
    try {
      this.registers = await registersApi.list();
      this.error.show(null);
    } catch (err) {
      this.error.show(`Registers not loaded: ${err.message}`);
      return;
    }
    replace(this.tbody, this.registers.map((r) => this.row(r)));
  }

  row(r) {
    const file = h('input', { type: 'file', accept: '.csv,text/csv', hidden: true, dataset: { testid: 'import-file' },
      onchange: () => this.importFile(r, file) });
    const sync = r.sync_url
      ? h('span', {}, r.sync_error ? h('span', { class: 'error-text', title: r.sync_error }, 'failed') : r.synced_at ? `synced ${formatDateTime(r.synced_at)}` : 'not yet',
        ' ', h('button', { class: 'btn btn-small', dataset: { testid: 'sync-register' }, onclick: () => this.sync(r) }, 'Sync now'))
      : '—';
    return h('tr', { dataset: { testid: 'register-row', registerId: r.id, name: r.name } },
      h('td', {}, h('a', { href: '#', onclick: (e) => { e.preventDefault(); this.showEntries(r); } }, r.name),
        r.description ? h('div', { class: 'sub' }, r.description) : null),
      h('td', {}, r.kind === 'persons' ? `${r.category} (persons)` : r.category),
      h('td', { dataset: { testid: 'register-entries-count' } }, String(r.entries)),
      h('td', { dataset: { testid: 'register-active-count' } }, String(r.active)),
      h('td', {}, sync),
      h('td', { class: 'actions' },
        r.kind === 'persons' || !r.editable ? null
          : h('button', { class: 'btn btn-small', dataset: { testid: 'import-register' }, onclick: () => file.click() }, 'Import CSV…'), file,
        h('button', { class: 'btn btn-small btn-danger', dataset: { testid: 'delete-register' }, onclick: () => this.remove(r) }, 'Delete')));
  }

  async create() {
    this.formError.show(null);
    const body = {
      name: this.name.input.value.trim(),
      kind: this.kind.input.value,
      category: this.category.input.value,
      fuzzy: this.fuzzy.checked,
      sync_url: this.url.input.value.trim() || null,
    };
    this.submit.disabled = true;
    try {
      await registersApi.create(body);
      this.name.input.value = '';
      this.url.input.value = '';
      await this.load();
    } catch (err) {
      placeErrors(err, { name: (m) => this.name.setError(m), sync_url: (m) => this.url.setError(m) },
        (m) => this.formError.show(m));
    } finally {
      this.submit.disabled = false;
    }
  }

  async importFile(r, input) {
    const [file] = input.files;
    input.value = '';
    if (!file) return;
    try {
      const done = await registersApi.importCsv(r.id, await file.text());
      const skipped = done.errors.length ? `; ${done.errors.length} row(s) not read: ${done.errors.slice(0, 3).join('; ')}` : '';
      toast(`${r.name}: ${done.added} added, ${done.updated} updated, ${done.removed} removed${skipped}`, done.errors.length ? 'info' : 'ok');
    } catch (err) {
      this.error.show(`Import into ${r.name} failed: ${err.message}`);
    }
    await this.load();
    if (this.shown?.id === r.id) this.showEntries(r);
  }

  async sync(r) {
    try {
      const done = await registersApi.sync(r.id);
      toast(done.changed ? `${r.name}: ${done.added} added, ${done.updated} updated, ${done.removed} removed` : `${r.name}: unchanged`, 'ok');
    } catch (err) {
      this.error.show(`Sync of ${r.name} failed: ${err.message}`);
    }
    await this.load();
  }

  async remove(r) {
    if (!await confirmDialog(`Delete the register ${r.name} and its ${r.entries} entries?`, { ok: 'Delete', danger: true })) return;
    try {
      await registersApi.remove(r.id);
    } catch (err) {
      this.error.show(`${r.name} not deleted: ${err.message}`);
    }
    if (this.shown?.id === r.id) replace(this.entries);
    await this.load();
  }

  /** The register's entries, a plate filter and a form to add one. */
  async showEntries(r, plate = '') {
    this.shown = r;
    const filter = h('input', { class: 'input input-small', placeholder: 'Plate starts with', value: plate, dataset: { testid: 'entries-filter' },
      onchange: () => this.showEntries(r, filter.value.trim()) });
    const add = {
      plate: h('input', { class: 'input input-small', placeholder: 'Plate', maxlength: 32, dataset: { testid: 'entry-plate' } }),
      reason: h('input', { class: 'input', placeholder: 'Reason', maxlength: 2000, dataset: { testid: 'entry-reason' } }),
      until: h('input', { class: 'input', type: 'date', title: 'Valid until (empty: no end)', dataset: { testid: 'entry-until' } }),
    };
    const addError = errorBanner('entry-error');
    const addForm = r.kind === 'persons' ? this.personForm(r, plate, addError) : h('form', { class: 'field-row', dataset: { testid: 'entry-form' }, onsubmit: async (e) => {
      e.preventDefault();
      addError.show(null);
      const entry = { plate: add.plate.value, reason: add.reason.value || null, valid_until: add.until.value ? `${add.until.value}T00:00:00Z` : null };
      try {
        await registersApi.addEntries(r.id, [entry]);
        await this.load();
        this.showEntries(r, plate);
      } catch (err) {
        addError.show(Object.values(err.fields ?? {}).join('; ') || err.message);
      }
    } }, add.plate, add.reason, add.until, h('button', { class: 'btn btn-primary', type: 'submit', dataset: { testid: 'add-entry' } }, 'Add'));
    let entries = [];
    try {
      entries = await registersApi.entries(r.id, { plate: plate || undefined, limit: 500 });
    } catch (err) {
      this.error.show(`Entries not loaded: ${err.message}`);
    }
    replace(this.entries, h('div', { class: 'panel' },
      h('h2', {}, r.name), addError, r.editable ? addForm : null, filter,
      h('table', { class: 'table', dataset: { testid: 'entry-table' } },
        h('thead', {}, h('tr', {}, [r.kind === 'persons' ? 'Person' : 'Plate', 'Reason', 'Source', 'Owner', 'Valid', ''].map((t) => h('th', {}, t)))),
        h('tbody', {}, entries.map((e) => h('tr', { class: e.active ? '' : 'row-disabled', dataset: { testid: 'entry-row', plate: e.plate, active: String(e.active) } },
          h('td', {}, e.photo_url ? h('img', { src: e.photo_url, alt: '', class: 'entry-photo', height: 48 }) : null,
            r.kind === 'persons' ? h('span', {}, e.label ?? '') : h('code', {}, e.plate)),
          h('td', {}, e.reason ?? ''), h('td', {}, e.source ?? ''), h('td', {}, e.owner ?? ''),
          h('td', {}, [e.valid_from ? `from ${formatDateTime(e.valid_from)}` : '', e.valid_until ? `until ${formatDateTime(e.valid_until)}` : ''].filter(Boolean).join(' ') || 'always'),
          h('td', { class: 'actions' }, !r.editable ? null : h('button', { class: 'btn btn-small btn-danger', dataset: { testid: 'delete-entry' }, onclick: async () => {
            try {
              await registersApi.removeEntry(r.id, e.id);
            } catch (err) {
              this.error.show(err.message);
            }
            await this.load();
            this.showEntries(r, plate);
          } }, 'Remove')))))),
      await this.accessPanel(r)));
  }

  /** Roles by what they may do with the register (administrators only: others get null). */
  async accessPanel(r) {
    let roles;
    try {
      roles = await rolesApi.list();
    } catch {
      return null; // not an administrator: the access is not theirs to change
    }
    const rights = [['see', 'Sees it'], ['edit', 'Edits entries'], ['alert', 'Alerted by hits']];
    const boxes = roles.map((role) => rights.map(([right]) => h('input', {
      type: 'checkbox', checked: r.access[right].includes(role.name),
      dataset: { testid: `access-${right}`, role: role.name },
    })));
    const saveError = errorBanner('access-error');
    const save = async () => {
      saveError.show(null);
      const access = Object.fromEntries(rights.map(([right], j) => [right, roles.filter((_, i) => boxes[i][j].checked).map((role) => role.name)]));
      try {
        const saved = await registersApi.setAccess(r.id, access);
        toast(`${r.name}: access saved`, 'ok');
        await this.load();
        this.showEntries(saved);
      } catch (err) {
        saveError.show(err.message);
      }
    };
    return h('section', { class: 'register-access', dataset: { testid: 'register-access' } },
      h('h3', {}, 'Access'),
      h('p', { class: 'sub' }, 'None ticked in a column: those who search or work alarms see it, administrators edit it, everyone who sees the camera is alerted.'),
      saveError,
      h('table', { class: 'table' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Role'), rights.map(([, label]) => h('th', {}, label)))),
        h('tbody', {}, roles.map((role, i) => h('tr', {}, h('td', {}, role.name), boxes[i].map((box) => h('td', {}, box)))))),
      h('button', { class: 'btn btn-primary', dataset: { testid: 'save-access' }, onclick: save }, 'Save access'));
  }

  /** The form that enrols a person: name, reason and photos of their face. */
  personForm(r, plate, addError) {
    const photos = h('input', { type: 'file', accept: 'image/jpeg,image/png', multiple: true, dataset: { testid: 'person-photos' } });
    const name = h('input', { class: 'input', placeholder: 'Name', maxlength: 200, dataset: { testid: 'person-name' } });
    const reason = h('input', { class: 'input', placeholder: 'Reason (warrant, case)', maxlength: 2000, dataset: { testid: 'person-reason' } });
    return h('form', { class: 'field-row', dataset: { testid: 'person-form' }, onsubmit: async (e) => {
      e.preventDefault();
      addError.show(null);
      const form = new FormData();
      form.append('name', name.value);
      if (reason.value) form.append('reason', reason.value);
      for (const f of photos.files) form.append('photos', f, f.name);
      try {
        await registersApi.enrol(r.id, form);
        await this.load();
        this.showEntries(r, plate);
      } catch (err) {
        addError.show(Object.values(err.fields ?? {}).join('; ') || err.message);
      }
    } }, name, reason, photos, h('button', { class: 'btn btn-primary', type: 'submit', dataset: { testid: 'enrol-person' } }, 'Enrol'));
  }
}
