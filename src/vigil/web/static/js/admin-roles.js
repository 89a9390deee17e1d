// Roles (#/admin/roles): the built-in roles (read only) and custom ones. A custom role is a
// list of grants, each some permissions on all cameras, on the cameras each user is given
// with the role, or on listed camera groups and cameras. Nobody may hold a role that is
// deleted: the server refuses and says so.

import {
  PERMISSIONS, checkList, errorBanner, grantText, groupError, openDrawer, placeErrors, scopePicker,
} from './admin-kit.js';
import { cameraGroups, roles as rolesApi } from './api.js';
import { store } from './store.js';
import { confirmDialog, formField, h, replace, toast } from './ui.js';

export function mount(root) {
  const page = new RolesPage(root);
  return () => page.destroy();
}

class RolesPage {
  constructor(root) {
    this.roles = [];
    this.groups = [];
    this.form = null;
    this.error = errorBanner('roles-error');
    this.tbody = h('tbody');
    replace(root,
      h('div', { class: 'admin-toolbar' },
        h('span', { class: 'meta' }, 'Built-in roles cannot be changed; custom roles combine permissions and cameras.'),
        h('span', { class: 'spacer' }),
        h('button', { class: 'btn btn-primary', dataset: { testid: 'add-role' }, onclick: () => this.edit(null) }, '+ New role')),
      this.error,
      h('table', { class: 'table', dataset: { testid: 'role-table' } },
        h('thead', {}, h('tr', {}, ['Role', 'Grants', ''].map((t) => h('th', {}, t)))),
        this.tbody));
    this.load();
  }

  destroy() {
    this.form?.close();
  }

  get lookups() {
    return { cameras: store.cameras, groups: this.groups };
  }

  async load() {
    try {
      [this.roles, this.groups] = await Promise.all([rolesApi.list(), cameraGroups.list()]);
      this.error.show(null);
    } catch (err) {
      this.error.show(`Roles not loaded: ${err.message}`);
    }
    replace(this.tbody, this.roles.map((r) => this.row(r)));
  }

  row(role) {
    return h('tr', { dataset: { testid: 'role-row', roleId: role.id, name: role.name } },
      h('td', {}, h('span', { class: 'camera-name' }, role.name),
        role.builtin ? h('span', { class: 'badge', title: 'built in' }, 'built-in') : null,
        role.description ? h('span', { class: 'sub' }, role.description) : null),
      h('td', { dataset: { testid: 'role-grants' } }, role.grants.map((g) => h('div', {}, grantText(g, this.lookups)))),
      h('td', { class: 'actions' }, role.builtin ? null : [
        h('button', { class: 'btn btn-small', dataset: { testid: 'edit-role' }, onclick: () => this.edit(role) }, 'Edit'),
        h('button', { class: 'btn btn-small btn-danger', dataset: { testid: 'delete-role' }, onclick: () => this.remove(role) }, 'Delete'),
      ]));
  }

  async remove(role) {
    if (!await confirmDialog(`Delete the role “${role.name}”?`, { ok: 'Delete', danger: true })) return;
    try {
      await rolesApi.remove(role.id);
      toast(`“${role.name}” deleted`, 'ok');
    } catch (err) {
      toast(`Could not delete “${role.name}”: ${err.message}`, 'error', 8000);
    }
    this.load();
  }

  edit(role) {
    this.form?.close();
    this.form = new RoleForm(role, this.lookups, { onSaved: () => this.load(), onClosed: () => { this.form = null; } });
  }
}

class RoleForm {
  constructor(role, lookups, { onSaved, onClosed }) {
    this.role = role;
    this.lookups = lookups;
    this.onSaved = onSaved;
    this.grants = [];
    this.error = errorBanner('role-form-error');
    this.name = formField('Name', h('input', { class: 'input', value: role?.name ?? '', maxlength: 64 }), { name: 'name', required: true,
      hint: 'Letters, digits, spaces, dots, dashes.' });
    this.description = formField('Description', h('input', { class: 'input', value: role?.description ?? '' }), { name: 'description' });
    this.grantsError = groupError('error-grants');
    this.list = h('div', { dataset: { testid: 'grants' } });
    this.submit = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { testid: 'save-role' } }, role ? 'Save' : 'Create role');
    const form = h('form', { class: 'camera-form', novalidate: true, dataset: { testid: 'role-form' },
      onsubmit: (e) => { e.preventDefault(); this.save(); } },
    h('h2', {}, role ? `Edit ${role.name}` : 'New role'),
    this.error, this.name.el, this.description.el,
    h('fieldset', { class: 'rule-section' }, h('legend', {}, 'Grants'),
      this.list, this.grantsError,
      h('button', { type: 'button', class: 'btn btn-small', dataset: { testid: 'add-grant' },
        onclick: () => this.addGrant({ permissions: [], scope: { assigned: true } }) }, '+ Add grant')),
    h('div', { class: 'form-actions' },
      h('button', { type: 'button', class: 'btn', onclick: () => this.close() }, 'Cancel'), this.submit));
    for (const g of role?.grants ?? [{ permissions: ['live'], scope: { assigned: true } }]) this.addGrant(g);
    this.drawer = openDrawer(form, { onClose: onClosed });
    this.name.input.focus();
  }

  close() {
    this.drawer.close();
  }

  addGrant(grant) {
    const permissions = checkList(PERMISSIONS.map(([p, label, title]) => [p, label, title]), grant.permissions,
      { testid: 'grant-permissions' });
    const scope = scopePicker(grant.scope, this.lookups, { allowAssigned: true, testid: 'grant-scope' });
    const error = groupError('error-grant');
    const entry = { permissions, scope, error, removed: false };
    const card = h('div', { class: 'action-card', dataset: { testid: 'grant' } },
      h('div', { class: 'action-card-head' }, h('span', { class: 'meta' }, 'May'), h('span', { class: 'spacer' }),
        h('button', { type: 'button', class: 'btn btn-small btn-danger', dataset: { testid: 'remove-grant' },
          onclick: () => { entry.removed = true; card.remove(); } }, '✕')),
      permissions.el, h('div', { class: 'meta' }, 'on'), scope.el, error);
    this.grants.push(entry);
    this.list.append(card);
  }

  async save() {
    this.name.setError(null);
    this.description.setError(null);
    this.grantsError.set(null);
    this.grants.forEach((g) => g.error.set(null));
    this.error.show(null);
    const kept = this.grants.filter((g) => !g.removed);
    const body = {
      name: this.name.input.value.trim(),
      description: this.description.input.value.trim() || null,
      grants: kept.map((g) => ({ permissions: g.permissions.values(), scope: g.scope.value() })),
    };
    this.submit.disabled = true;
    try {
      const saved = this.role ? await rolesApi.update(this.role.id, body) : await rolesApi.create(body);
      toast(`Role “${saved.name}” saved`, 'ok');
      this.close();
      this.onSaved();
    } catch (err) {
      const targets = { name: (m) => this.name.setError(m), description: (m) => this.description.setError(m),
        grants: (m) => this.grantsError.set(m) };
      kept.forEach((g, i) => { targets[`grants.${i}`] = (m) => g.error.set(m); });
      placeErrors(err, targets, (m) => this.error.show(m));
    } finally {
      this.submit.disabled = false;
    }
  }
}
