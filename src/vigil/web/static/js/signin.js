// The sign-in screen, shown instead of the application while nobody is signed in:
//   - first run (no user yet): the first administrator, with the setup token the server
//     printed in its log (there is no default password), then signed in at once;
//   - otherwise the login form: username and password, and the authenticator code when the
//     server says the account needs one. Refusals, delays and lockouts are shown in the
//     server's words.

import { auth as authApi } from './api.js';
import { cleanMessage, formField, h, replace } from './ui.js';

/**
 * Show the sign-in screen in `root` until someone signs in; resolves to /api/auth/me's user.
 * `setupRequired` shows the first-run form; `notice` says why the form is shown (expired).
 */
export function signIn(root, { setupRequired = false, notice = null } = {}) {
  return new Promise((resolve) => {
    const done = (me) => {
      replace(root);
      resolve(me);
    };
    if (setupRequired) setupForm(root, done);
    else loginForm(root, done, { notice });
  });
}

function card(title, ...children) {
  return h('div', { class: 'signin-card' },
    h('div', { class: 'signin-brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'VIGIL'),
    h('h1', {}, title), children);
}

function banner(kind, testid) {
  return h('div', { class: `banner ${kind}`, hidden: true, role: kind === 'error' ? 'alert' : 'status', dataset: { testid } });
}

function show(el, message) {
  el.textContent = message ?? '';
  el.hidden = !message;
}

function loginForm(root, done, { notice = null, username = '' } = {}) {
  const info = banner('info', 'signin-notice');
  const error = banner('error', 'signin-error');
  const user = formField('Username', h('input', { class: 'input', autocomplete: 'username', autocapitalize: 'none',
    spellcheck: false, required: true, value: username, dataset: { testid: 'login-username' } }), { name: 'username' });
  const password = formField('Password', h('input', { class: 'input', type: 'password', autocomplete: 'current-password',
    required: true, dataset: { testid: 'login-password' } }), { name: 'password' });
  const code = formField('Authenticator code', h('input', { class: 'input', inputmode: 'numeric', autocomplete: 'one-time-code',
    maxlength: 16, dataset: { testid: 'login-totp' } }), { name: 'totp', hint: 'The 6 digits your authenticator app shows now.' });
  code.el.hidden = true;
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { testid: 'login-submit' } }, 'Sign in');

  const attempt = async () => {
    show(error, null);
    const name = user.input.value.trim();
    if (!name || !password.input.value) {
      show(error, 'Enter your username and password.');
      return;
    }
    submit.disabled = true;
    try {
      done(await authApi.login(name, password.input.value, code.el.hidden ? null : code.input.value.trim()));
    } catch (err) {
      if (err.body?.totp_required) {
        // The password was right: the account also needs its second factor.
        code.el.hidden = false;
        show(info, null);
        show(error, err.message);
        code.input.focus();
      } else {
        show(error, err.message); // wrong credentials, a delay or a lockout, as the server words it
        if (err.status === 401) {
          password.input.value = '';
          code.input.value = '';
          password.input.focus();
        }
      }
    } finally {
      submit.disabled = false;
    }
  };

  show(info, notice);
  const form = h('form', { class: 'signin-form', novalidate: true, dataset: { testid: 'login-form' },
    onsubmit: (e) => { e.preventDefault(); attempt(); } },
  info, error, user.el, password.el, code.el, h('div', { class: 'form-actions' }, submit));
  replace(root, card('Sign in', form));
  (username ? password.input : user.input).focus();
}

function setupForm(root, done) {
  const error = banner('error', 'setup-error');
  const fields = {
    setup_token: formField('Setup token', h('input', { class: 'input', autocomplete: 'off', spellcheck: false }),
      { name: 'setup_token', required: true,
        hint: 'Printed in the server’s log at start while no user exists. Or, on the server: vigil users create-admin NAME.' }),
    username: formField('Administrator’s username', h('input', { class: 'input', autocomplete: 'username',
      autocapitalize: 'none', value: 'admin' }), { name: 'username', required: true }),
    display_name: formField('Full name', h('input', { class: 'input', autocomplete: 'name' }),
      { name: 'display_name', hint: 'Optional: shown on alarms and in the audit trail.' }),
    password: formField('Password', h('input', { class: 'input', type: 'password', autocomplete: 'new-password' }),
      { name: 'password', required: true, hint: 'A long passphrase: the server says what it accepts.' }),
    confirm: formField('Password again', h('input', { class: 'input', type: 'password', autocomplete: 'new-password' }),
      { name: 'confirm', required: true }),
  };
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { testid: 'setup-submit' } }, 'Create administrator');

  const attempt = async () => {
    show(error, null);
    const value = (k) => fields[k].input.value;
    if (value('password') !== value('confirm')) {
      fields.confirm.setError('The two passwords differ.');
      return;
    }
    submit.disabled = true;
    const body = {
      setup_token: value('setup_token').trim(),
      username: value('username').trim(),
      password: value('password'),
      display_name: value('display_name').trim() || null,
    };
    try {
      await authApi.setup(body);
    } catch (err) {
      submit.disabled = false;
      const placed = Object.entries(err.fields ?? {}).filter(([f]) => fields[f]);
      for (const [f, message] of placed) fields[f].setError(cleanMessage(message));
      if (!placed.length) show(error, err.message);
      return;
    }
    try {
      done(await authApi.login(body.username, body.password));
    } catch (err) {
      loginForm(root, done, { notice: `Administrator created, but signing in failed: ${err.message}`, username: body.username });
    }
  };

  const form = h('form', { class: 'signin-form', novalidate: true, dataset: { testid: 'setup-form' },
    onsubmit: (e) => { e.preventDefault(); attempt(); } },
  h('p', { class: 'hint' }, 'Vigil has no user yet. Create the first administrator: they then add the others.'),
  error, Object.values(fields).map((f) => f.el), h('div', { class: 'form-actions' }, submit));
  replace(root, card('Set up Vigil', form));
  fields.setup_token.input.focus();
}
