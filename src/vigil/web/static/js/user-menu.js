// The signed-in user's menu in the header: who they are, change password, the second factor
// (TOTP: the secret and its otpauth:// URI shown as text for the authenticator app, then a
// first code to switch it on), and sign out.

import { auth as authApi } from './api.js';
import { session } from './session.js';
import { cleanMessage, formField, h, openModal, replace, toast } from './ui.js';

/**
 * Render the menu into `root` for the current user. `onSignOut(notice)` ends the session on
 * this page (after the server has, or when it already had).
 */
export function mountUserMenu(root, { onSignOut }) {
  if (!session.signedIn) {
    closeOpenMenu = null;
    replace(root);
    return;
  }
  const me = session.me;
  const panel = h('div', { class: 'menu-panel', hidden: true, role: 'menu', dataset: { testid: 'user-menu' } },
    h('div', { class: 'menu-who' },
      h('strong', { dataset: { testid: 'user-name' } }, session.name),
      h('span', { class: 'sub' }, me.display_name ? me.username : null),
      h('span', { class: 'sub', dataset: { testid: 'user-roles' } }, me.roles.map((r) => r.role).join(', ') || 'no role')),
    item('Change password…', 'menu-password', () => passwordDialog(onSignOut)),
    item(me.totp_enabled ? 'Two-factor sign-in: on' : 'Set up two-factor sign-in…', 'menu-totp', () => totpDialog()),
    item('Sign out', 'menu-signout', async () => {
      try {
        await authApi.logout();
      } catch {
        // the session was over already: signing out here is all there is to do
      }
      onSignOut('You are signed out.');
    }));
  const button = h('button', { class: 'btn btn-small user-button', 'aria-haspopup': 'menu', dataset: { testid: 'user-menu-button' },
    title: `Signed in as ${me.username}`, onclick: (e) => { e.stopPropagation(); toggle(); } }, '👤 ', session.name);
  const toggle = (open = panel.hidden) => {
    panel.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
  };
  function item(label, testid, run) {
    return h('button', { class: 'menu-item', role: 'menuitem', dataset: { testid },
      onclick: () => { toggle(false); run(); } }, label);
  }
  closeOpenMenu = (e) => { if (!root.contains(e.target)) toggle(false); };
  replace(root, button, panel);
}

// A click anywhere else closes the menu of the latest render.
let closeOpenMenu = null;
document.addEventListener('click', (e) => closeOpenMenu?.(e));

function passwordDialog(onSignOut) {
  const current = formField('Current password', h('input', { class: 'input', type: 'password', autocomplete: 'current-password' }),
    { name: 'current_password' });
  const fresh = formField('New password', h('input', { class: 'input', type: 'password', autocomplete: 'new-password' }),
    { name: 'new_password', hint: 'You will be signed out everywhere and sign in again with it.' });
  const again = formField('New password again', h('input', { class: 'input', type: 'password', autocomplete: 'new-password' }),
    { name: 'confirm' });
  const error = h('div', { class: 'banner error', hidden: true, dataset: { testid: 'password-error' } });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { testid: 'password-save' } }, 'Change password');
  const byField = { current_password: current, new_password: fresh };
  const save = async () => {
    error.hidden = true;
    if (fresh.input.value !== again.input.value) {
      again.setError('The two passwords differ.');
      return;
    }
    submit.disabled = true;
    try {
      await authApi.changePassword(current.input.value, fresh.input.value);
      dialog.close();
      onSignOut('Password changed: sign in with the new one.');
    } catch (err) {
      const placed = Object.entries(err.fields ?? {}).filter(([f]) => byField[f]);
      for (const [f, message] of placed) byField[f].setError(cleanMessage(message));
      if (!placed.length) {
        error.textContent = err.message;
        error.hidden = false;
      }
    } finally {
      submit.disabled = false;
    }
  };
  const dialog = openModal(h('form', { novalidate: true, onsubmit: (e) => { e.preventDefault(); save(); } },
    h('h2', {}, 'Change password'), error, current.el, fresh.el, again.el,
    h('div', { class: 'modal-actions' },
      h('button', { type: 'button', class: 'btn', onclick: () => dialog.close() }, 'Cancel'), submit)),
  { testid: 'password-dialog' });
  current.input.focus();
}

async function totpDialog() {
  const body = h('div', { class: 'totp-body' });
  const dialog = openModal([h('h2', {}, 'Two-factor sign-in'), body,
    h('div', { class: 'modal-actions' }, h('button', { type: 'button', class: 'btn', dataset: { testid: 'totp-close' },
      onclick: () => dialog.close() }, 'Close'))], { testid: 'totp-dialog', wide: true });
  if (session.me.totp_enabled) {
    replace(body, h('p', { dataset: { testid: 'totp-on' } },
      'Your account asks for a code from your authenticator app at each sign-in. ',
      'If you lose the app, an administrator can reset it; you then set it up again here.'));
    return;
  }
  const start = h('button', { class: 'btn btn-primary', dataset: { testid: 'totp-start' }, onclick: () => begin() }, 'Set up');
  replace(body, h('p', {}, 'After your password, Vigil will ask for the code your authenticator app shows. ',
    'Setting it up gives you a secret to add to the app, then asks for a first code.'), start);

  async function begin() {
    start.disabled = true;
    let secret;
    try {
      secret = await authApi.totpSetup();
    } catch (err) {
      start.disabled = false;
      toast(`Two-factor sign-in not started: ${err.message}`, 'error', 8000);
      return;
    }
    const code = formField('Code from the app', h('input', { class: 'input', inputmode: 'numeric', autocomplete: 'one-time-code',
      maxlength: 16, dataset: { testid: 'totp-code' } }), { name: 'code' });
    const confirm = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { testid: 'totp-confirm' } }, 'Switch on');
    const finish = async () => {
      confirm.disabled = true;
      try {
        await authApi.totpConfirm(code.input.value.trim());
        session.set(await authApi.me());
        dialog.close();
        toast('Two-factor sign-in is on', 'ok');
      } catch (err) {
        code.setError(cleanMessage(err.fields?.code ?? err.message));
      } finally {
        confirm.disabled = false;
      }
    };
    replace(body,
      h('p', {}, 'Add this account to your authenticator app: open the link below on the phone, or type the secret in.'),
      h('dl', { class: 'details' },
        h('dt', {}, 'Secret'), h('dd', {}, h('code', { class: 'secret', dataset: { testid: 'totp-secret' } }, secret.secret)),
        h('dt', {}, 'URI'), h('dd', {}, h('code', { class: 'secret', dataset: { testid: 'totp-uri' } }, secret.provisioning_uri))),
      h('form', { novalidate: true, onsubmit: (e) => { e.preventDefault(); finish(); } }, code.el,
        h('div', { class: 'form-actions' }, confirm)));
    code.input.focus();
  }
}
