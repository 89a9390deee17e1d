// Users (#/admin/users): who may sign in, with which roles on which cameras. Create and edit
// in a drawer (roles, each optionally narrowed to camera groups and cameras), disable or
// enable, lift a lockout, reset a lost second factor, delete. An administrator cannot
// disable, re-role or delete themselves (the server refuses; the page does not offer it).

import {
  errorBanner, groupError, openDrawer, placeErrors, scopePicker, scopeText,
} from './admin-kit.js';
import { cameraGroups, roles as rolesApi, users as usersApi } from './api.js';
import { session } from './session.js';
import { store } from './store.js';
import { confirmDialog, formatAgo, formatDateTime, formField, h, replace, toast } from './ui.js';

export function mount(root) {
  const page = new UsersPage(root);
  return () => page.destroy();
}

class UsersPage {
  constructor(root) {
    this.users = [];
    this.roles = [];
    this.groups = [];
    this.form = null;
    this.summary = h('span', { class: 'meta', dataset: { testid: 'user-summary' } });
    this.error = errorBanner('users-error');
    this.tbody = h('tbody');
    replace(root,
      h('div', { class: 'admin-toolbar' }, this.summary, h('span', { class: 'spacer' }),
        h('button', { class: 'btn btn-primary', dataset: { testid: 'add-user' }, onclick: () => this.edit(null) }, '+ New user')),
      this.error,
      h('table', { class: 'table', dataset: { testid: 'user-table' } },
        h('thead', {}, h('tr', {}, ['User', 'Roles', 'Sign-in', 'State', ''].map((t) => h('th', {}, t)))),
        this.tbody));
    this.onCameras = () => this.render();
    store.addEventListener('change', this.onCameras);
    this.load();
  }

  destroy() {
    store.removeEventListener('change', this.onCameras);
    this.form?.close();
  }

  get lookups() {
    return { cameras: store.cameras, groups: this.groups };
  }

  async load() {
    try {
      [this.users, this.roles, this.groups] = await Promise.all([usersApi.list(), rolesApi.list(), cameraGroups.list()]);
      this.error.show(null);
    } catch (err) {
      this.error.show(`Users not loaded: ${err.message}`);
    }
    this.render();
  }

  render() {
    const active = this.users.filter((u) => !u.disabled).length;
    this.summary.textContent = `${this.users.length} user${this.users.length === 1 ? '' : 's'} · ${active} active`;
    replace(this.tbody, this.users.map((u) => this.row(u)));
  }

  row(u) {
    const self = u.id === session.me?.id;
    const locked = u.locked_until && new Date(u.locked_until) > new Date();
    const roles = u.roles.length
      ? u.roles.map((a) => (a.scope && !a.scope.all ? `${a.role} (${scopeText(a.scope, this.lookups)})` : a.role)).join('; ')
      : 'no role: cannot do anything';
    const button = (label, testid, run, danger = false) =>
      h('button', { class: `btn btn-small${danger ? ' btn-danger' : ''}`, dataset: { testid }, onclick: run }, label);
    return h('tr', { class: u.disabled ? 'row-disabled' : '', dataset: { testid: 'user-row', userId: u.id, username: u.username } },
      h('td', {}, h('span', { class: 'camera-name', dataset: { testid: 'user-username' } }, u.username, self ? ' (you)' : ''),
        u.display_name ? h('span', { class: 'sub' }, u.display_name) : null),
      h('td', { dataset: { testid: 'user-roles' } }, roles),
      h('td', {},
        h('span', { class: 'sub' }, u.totp_enabled ? 'two-factor on' : 'password only'),
        locked ? h('span', { class: 'sub error-text', dataset: { testid: 'user-locked' } }, `locked until ${formatDateTime(u.locked_until)}`) : null,
        h('span', { class: 'sub' }, u.last_login_at ? `last sign-in ${formatAgo(u.last_login_at)}` : 'never signed in')),
      h('td', { dataset: { testid: 'user-state' } }, u.disabled ? 'Disabled' : 'Active'),
      h('td', { class: 'actions' },
        button('Edit', 'edit-user', () => this.edit(u)),
        self ? null : button(u.disabled ? 'Enable' : 'Disable', 'toggle-user', () => this.setDisabled(u, !u.disabled)),
        locked ? button('Unlock', 'unlock-user', () => this.run(`${u.username} unlocked`, () => usersApi.unlock(u.id))) : null,
        u.totp_enabled ? button('Reset two-factor', 'reset-totp', () => this.resetTotp(u)) : null,
        self ? null : button('Delete', 'delete-user', () => this.remove(u), true)));
  }

  /** Run a change, toast `done`, reload; failures are toasted with the server's message. */
  async run(done, change) {
    try {
      await change();
      toast(done, 'ok');
    } catch (err) {
      toast(err.message, 'error', 8000);
    }
    await this.load();
  }

  async setDisabled(u, disabled) {
    if (disabled && !await confirmDialog(`Disable ${u.username}? They are signed out at once and cannot sign in.`,
      { ok: 'Disable', danger: true })) return;
    await this.run(`${u.username} ${disabled ? 'disabled' : 'enabled'}`, () => usersApi.update(u.id, { disabled }));
  }

  async resetTotp(u) {
    if (!await confirmDialog(`Switch off ${u.username}’s two-factor sign-in (a lost phone)? They can set it up again.`,
      { ok: 'Reset', danger: true })) return;
    await this.run(`${u.username}’s two-factor sign-in reset`, () => usersApi.resetTotp(u.id));
  }

  async remove(u) {
    if (!await confirmDialog(`Delete ${u.username} with their sessions and API tokens? Their audit entries stay.`,
      { ok: 'Delete', danger: true })) return;
    await this.run(`${u.username} deleted`, () => usersApi.remove(u.id));
  }

  edit(user) {
    this.form?.close();
    this.form = new UserForm(user, this.roles, this.lookups, {
      onSaved: () => this.load(),
      onClosed: () => { this.form = null; },
    });
  }
}

class UserForm {
  constructor(user, roles, lookups, { onSaved, onClosed }) {
    this.user = user;
    this.roles = roles;
    this.lookups = lookups;
    this.onSaved = onSaved;
    this.self = user && user.id === session.me?.id;
    this.assignments = [];
    this.error = errorBanner('user-form-error');
    this.fields = {
      username: formField('Username', h('input', { class: 'input', autocomplete: 'off', autocapitalize: 'none',
        value: user?.username ?? '', disabled: Boolean(user) }), { name: 'username', required: !user }),
      display_name: formField('Full name', h('input', { class: 'input', autocomplete: 'off', value: user?.display_name ?? '' }),
        { name: 'display_name', hint: 'Shown on alarms and in the audit trail.' }),
      password: formField(user ? 'New password' : 'Password', h('input', { class: 'input', type: 'password', autocomplete: 'new-password' }),
        { name: 'password', required: !user,
          hint: user ? 'Empty: unchanged. A new one signs the user out everywhere.' : 'The server’s password policy applies.' }),
    };
    this.rolesError = groupError('error-roles');
    this.list = h('div', { class: 'assignments', dataset: { testid: 'assignments' } });
    this.submit = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { testid: 'save-user' } }, user ? 'Save' : 'Create user');
    const addRole = h('button', { type: 'button', class: 'btn btn-small', dataset: { testid: 'add-assignment' }, disabled: this.self,
      onclick: () => this.addAssignment({ role: this.roles.find((r) => r.name === 'operator')?.name ?? this.roles[0]?.name, scope: { all: true } }) },
    '+ Add role');
    const form = h('form', { class: 'camera-form', novalidate: true, dataset: { testid: 'user-form' },
      onsubmit: (e) => { e.preventDefault(); this.save(); } },
    h('h2', {}, user ? `Edit ${user.username}` : 'New user'),
    this.error,
    Object.values(this.fields).map((f) => f.el),
    h('fieldset', { class: 'rule-section' }, h('legend', {}, 'Roles'),
      h('div', { class: 'hint' }, this.self
        ? 'You cannot change your own roles: another administrator can.'
        : 'Each role on all cameras or on some. Manage and audit hold only on all cameras.'),
      this.list, this.rolesError, addRole),
    h('div', { class: 'form-actions' },
      h('button', { type: 'button', class: 'btn', dataset: { testid: 'cancel-user' }, onclick: () => this.close() }, 'Cancel'),
      this.submit));
    for (const a of user?.roles ?? []) this.addAssignment(a);
    if (!user) this.addAssignment({ role: 'operator', scope: { all: true } });
    this.drawer = openDrawer(form, { onClose: onClosed });
    (user ? this.fields.display_name : this.fields.username).input.focus();
  }

  close() {
    this.drawer.close();
  }

  addAssignment(a) {
    const index = this.assignments.length;
    const role = h('select', { class: 'input input-small', disabled: this.self, dataset: { testid: 'assignment-role' } },
      this.roles.map((r) => h('option', { value: r.name, title: r.description ?? '' }, r.name)));
    role.value = a.role;
    const scope = scopePicker(a.scope ?? { all: true }, this.lookups, { testid: 'assignment-scope', disabled: this.self });
    const error = groupError(`error-roles-${index}`);
    const entry = { role, scope, error, removed: false };
    const card = h('div', { class: 'action-card', dataset: { testid: 'assignment' } },
      h('div', { class: 'action-card-head' }, role, h('span', { class: 'meta' }, 'on'), h('span', { class: 'spacer' }),
        this.self ? null : h('button', { type: 'button', class: 'btn btn-small btn-danger', dataset: { testid: 'remove-assignment' },
          onclick: () => { entry.removed = true; card.remove(); } }, '✕')),
      scope.el, error);
    this.assignments.push(entry);
    this.list.append(card);
  }

  body() {
    const value = (k) => this.fields[k].input.value;
    const roles = this.assignments.filter((a) => !a.removed).map((a) => ({ role: a.role.value, scope: a.scope.value() }));
    if (!this.user) {
      return { username: value('username').trim(), password: value('password'), display_name: value('display_name').trim() || null, roles };
    }
    const body = {};
    if (value('display_name').trim() !== (this.user.display_name ?? '')) body.display_name = value('display_name').trim() || null;
    if (value('password')) body.password = value('password');
    if (!this.self) body.roles = roles;
    return body;
  }

  async save() {
    for (const f of Object.values(this.fields)) f.setError(null);
    this.rolesError.set(null);
    this.assignments.forEach((a) => a.error.set(null));
    this.error.show(null);
    this.submit.disabled = true;
    try {
      const saved = this.user ? await usersApi.update(this.user.id, this.body()) : await usersApi.create(this.body());
      toast(this.user ? `${saved.username} saved` : `${saved.username} created`, 'ok');
      this.close();
      this.onSaved();
    } catch (err) {
      // The server numbers roles as sent, i.e. without those removed in the form.
      const kept = this.assignments.filter((a) => !a.removed);
      const targets = { roles: (m) => this.rolesError.set(m) };
      kept.forEach((a, i) => { targets[`roles.${i}`] = (m) => a.error.set(m); });
      for (const [k, f] of Object.entries(this.fields)) targets[k] = (m) => f.setError(m);
      placeErrors(err, targets, (m) => this.error.show(m));
    } finally {
      this.submit.disabled = false;
    }
  }
}
