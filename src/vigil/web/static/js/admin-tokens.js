// API tokens (#/admin/tokens) for integrations and scripts: each acts for a user, limited to
// some of that user's permissions if wished, until an expiry if given. The secret is shown
// once, right after creation, and never again; a token is revoked, never edited.

import { PERMISSIONS, checkList, errorBanner, placeErrors } from './admin-kit.js';
import { tokens as tokensApi, users as usersApi } from './api.js';
import { session } from './session.js';
import { confirmDialog, formatAgo, formatDateTime, formField, fromLocalInput, h, replace, toast } from './ui.js';

export function mount(root) {
  const page = new TokensPage(root);
  return () => page.destroy();
}

class TokensPage {
  constructor(root) {
    this.tokens = [];
    this.users = [];
    this.error = errorBanner('tokens-error');
    this.formError = errorBanner('token-form-error');
    this.created = h('div', { class: 'new-token', hidden: true, dataset: { testid: 'new-token' } });
    this.tbody = h('tbody');
    this.name = formField('Name', h('input', { class: 'input', placeholder: 'e.g. door controller', maxlength: 120 }),
      { name: 'token-name', required: true });
    this.user = formField('Acts for', h('select', { class: 'input' }), { name: 'token-user' });
    this.expires = formField('Expires', h('input', { class: 'input', type: 'datetime-local', step: '1' }),
      { name: 'token-expires', hint: 'Empty: until revoked.' });
    this.scopes = checkList(PERMISSIONS.map(([p, label, title]) => [p, label, title]), [], { testid: 'token-scopes' });
    this.submit = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { testid: 'create-token' } }, 'Create token');
    const form = h('form', { class: 'panel token-form', novalidate: true, dataset: { testid: 'token-form' },
      onsubmit: (e) => { e.preventDefault(); this.create(); } },
    h('h2', {}, 'New token'), this.formError,
    h('div', { class: 'field-row' }, this.name.el, this.user.el, this.expires.el),
    h('div', { class: 'field' }, h('label', {}, 'Limited to'), this.scopes.el,
      h('div', { class: 'hint' }, 'None ticked: everything its user may do. Ticked: only these of the user’s permissions.')),
    h('div', { class: 'form-actions' }, this.submit));
    replace(root, this.created, form, this.error,
      h('table', { class: 'table', dataset: { testid: 'token-table' } },
        h('thead', {}, h('tr', {}, ['Token', 'Acts for', 'Limited to', 'Created', 'Last used', 'Expires', 'State', '']
          .map((t) => h('th', {}, t)))),
        this.tbody));
    this.load();
  }

  destroy() {}

  async load() {
    try {
      [this.tokens, this.users] = await Promise.all([tokensApi.list(), usersApi.list()]);
      this.error.show(null);
    } catch (err) {
      this.error.show(`Tokens not loaded: ${err.message}`);
    }
    const chosen = this.user.input.value || String(session.me?.id ?? '');
    replace(this.user.input, this.users.map((u) => h('option', { value: String(u.id) }, u.username)));
    this.user.input.value = chosen;
    replace(this.tbody, this.tokens.map((t) => this.row(t)));
  }

  row(t) {
    const user = this.users.find((u) => u.id === t.user_id)?.username ?? `user ${t.user_id}`;
    const expired = t.expires_at && new Date(t.expires_at) <= new Date();
    const state = t.revoked_at ? 'revoked' : expired ? 'expired' : 'active';
    return h('tr', { class: state === 'active' ? '' : 'row-disabled', dataset: { testid: 'token-row', tokenId: t.id, name: t.name, state } },
      h('td', {}, h('span', { class: 'camera-name' }, t.name), h('code', { class: 'sub' }, `vgl_${t.prefix}_…`)),
      h('td', {}, user),
      h('td', {}, t.scopes ? t.scopes.join(', ') : 'all of the user’s permissions'),
      h('td', {}, formatDateTime(t.created_at)),
      h('td', {}, t.last_used_at ? formatAgo(t.last_used_at) : 'never'),
      h('td', {}, t.expires_at ? formatDateTime(t.expires_at) : '—'),
      h('td', { dataset: { testid: 'token-state' } }, state === 'revoked' ? `revoked ${formatDateTime(t.revoked_at)}` : state),
      h('td', { class: 'actions' }, state === 'active'
        ? h('button', { class: 'btn btn-small btn-danger', dataset: { testid: 'revoke-token' }, onclick: () => this.revoke(t) }, 'Revoke')
        : null));
  }

  async create() {
    this.formError.show(null);
    for (const f of [this.name, this.user, this.expires]) f.setError(null);
    const expires = this.expires.input.value ? fromLocalInput(this.expires.input.value) : null;
    if (this.expires.input.value && !expires) {
      this.expires.setError('Not a date and time');
      return;
    }
    const scopes = this.scopes.values();
    const body = {
      name: this.name.input.value.trim(),
      user_id: Number(this.user.input.value) || null,
      scopes: scopes.length ? scopes : null,
      expires_at: expires ? expires.toISOString() : null,
    };
    this.submit.disabled = true;
    try {
      const made = await tokensApi.create(body);
      this.showCreated(made);
      this.name.input.value = '';
      this.expires.input.value = '';
      await this.load();
    } catch (err) {
      placeErrors(err, {
        name: (m) => this.name.setError(m), user_id: (m) => this.user.setError(m),
        expires_at: (m) => this.expires.setError(m), scopes: (m) => this.formError.show(`Limited to: ${m}`),
      }, (m) => this.formError.show(m));
    } finally {
      this.submit.disabled = false;
    }
  }

  /** The secret, this once, with a copy button. */
  showCreated(made) {
    const value = h('code', { class: 'secret', dataset: { testid: 'new-token-value' } }, made.token);
    const copy = h('button', { type: 'button', class: 'btn btn-small', dataset: { testid: 'copy-token' }, onclick: async () => {
      try {
        await navigator.clipboard.writeText(made.token);
        toast('Token copied', 'ok');
      } catch {
        // no clipboard (plain HTTP, permissions): select it for Ctrl+C instead
        getSelection().selectAllChildren(value);
        toast('Select and copy the token by hand (Ctrl+C)', 'info');
      }
    } }, 'Copy');
    replace(this.created,
      h('div', {}, h('strong', {}, `Token “${made.name}” created. `),
        'Copy it now: it is shown this once and never again. Send it as “Authorization: Bearer …”.'),
      h('div', { class: 'new-token-line' }, value, copy,
        h('button', { type: 'button', class: 'btn btn-small', dataset: { testid: 'dismiss-token' },
          onclick: () => { replace(this.created); this.created.hidden = true; } }, 'Done')));
    this.created.hidden = false;
  }

  async revoke(t) {
    if (!await confirmDialog(`Revoke the token “${t.name}”? Whatever uses it is refused from now on.`,
      { ok: 'Revoke', danger: true })) return;
    try {
      await tokensApi.revoke(t.id);
      toast(`“${t.name}” revoked`, 'ok');
    } catch (err) {
      toast(`Could not revoke “${t.name}”: ${err.message}`, 'error', 8000);
    }
    this.load();
  }
}
