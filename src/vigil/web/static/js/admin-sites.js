// Federated sites (#/admin/sites): the sites this server links to, each with the state of
// its link (online, unreachable, refused), the last error and when it last answered; link a
// site (name, https URL, a token the site's administrator issued) or unlink one. Trust is
// explicit: the server first answers with the fingerprint of the certificate the site
// presents (409), which the administrator checks with the site's and confirms; only then is
// the site stored, with that certificate pinned.

import { errorBanner, placeErrors } from './admin-kit.js';
import { loadLinkedSites, sites as sitesApi } from './api.js';
import { confirmDialog, formatAgo, formatDateTime, formField, h, replace, toast } from './ui.js';

const REFRESH_MS = 3000; // links go online and unreachable by themselves
const STATE_BADGES = { online: 'online', new: 'connecting', unreachable: 'offline', refused: 'offline' };

export function mount(root) {
  const page = new SitesPage(root);
  return () => page.destroy();
}

class SitesPage {
  constructor(root) {
    this.sites = [];
    this.loaded = false;
    this.pending = null; // the form's body, waiting for its fingerprint to be confirmed
    this.summary = h('span', { class: 'meta', dataset: { testid: 'site-summary' } });
    this.error = errorBanner('sites-error');
    this.formError = errorBanner('site-form-error');
    this.name = formField('Name', h('input', { class: 'input', placeholder: 'e.g. north', maxlength: 64 }),
      { name: 'site-name', required: true, hint: 'Marks the site’s cameras, alarms and events here.' });
    this.url = formField('URL', h('input', { class: 'input', placeholder: 'https://north.example:8443', maxlength: 500 }),
      { name: 'site-url', required: true });
    this.token = formField('Token', h('input', { class: 'input', type: 'password', autocomplete: 'off' }),
      { name: 'site-token', required: true, hint: 'An API token the site’s administrator issued for this centre.' });
    this.submit = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { testid: 'add-site' } }, 'Link site');
    this.confirmBox = h('div', { class: 'banner', hidden: true, dataset: { testid: 'site-confirm' } });
    const form = h('form', { class: 'panel site-form', novalidate: true, dataset: { testid: 'site-form' },
      onsubmit: (e) => { e.preventDefault(); this.add(); } },
    h('h2', {}, 'Link a site'), this.formError,
    h('div', { class: 'field-row' }, this.name.el, this.url.el, this.token.el),
    this.confirmBox,
    h('div', { class: 'form-actions' }, this.submit));
    this.tbody = h('tbody');
    this.empty = h('div', { class: 'empty', hidden: true }, 'No site is linked yet.');
    replace(root,
      h('div', { class: 'admin-toolbar' }, this.summary), form, this.error,
      h('table', { class: 'table', dataset: { testid: 'site-table' } },
        h('thead', {}, h('tr', {}, ['Site', 'State', 'Last error', 'Last seen', 'Certificate', '']
          .map((t) => h('th', {}, t)))),
        this.tbody),
      this.empty);
    this.timer = setInterval(() => this.load(), REFRESH_MS);
    this.load();
  }

  destroy() {
    clearInterval(this.timer);
  }

  async load() {
    try {
      this.sites = await sitesApi.list();
      this.loaded = true;
      this.error.show(null);
    } catch (err) {
      this.error.show(`Sites not loaded: ${err.message}`);
    }
    this.render();
  }

  render() {
    const online = this.sites.filter((s) => s.state === 'online').length;
    this.summary.textContent = `${this.sites.length} site${this.sites.length === 1 ? '' : 's'} · ${online} online`;
    this.empty.hidden = !this.loaded || this.sites.length > 0;
    replace(this.tbody, this.sites.map((s) => this.row(s)));
  }

  row(s) {
    return h('tr', { class: s.state === 'online' ? '' : 'row-disabled',
      dataset: { testid: 'site-row', name: s.name, state: s.state } },
    h('td', {}, h('span', { class: 'camera-name' }, s.name), h('code', { class: 'sub url' }, s.url)),
    h('td', { dataset: { testid: 'site-state' } },
      h('span', { class: `badge status-${STATE_BADGES[s.state] ?? 'offline'}` }, s.state)),
    h('td', { class: 'meta', dataset: { testid: 'site-error' } }, s.last_error ?? '—'),
    h('td', { title: s.last_seen_at ? formatDateTime(s.last_seen_at) : '' },
      s.last_seen_at ? formatAgo(s.last_seen_at) : 'never'),
    h('td', {}, h('code', { class: 'sub', title: s.fingerprint }, `${s.fingerprint.slice(0, 23)}…`)),
    h('td', { class: 'actions' },
      h('button', { class: 'btn btn-small btn-danger', dataset: { testid: 'remove-site' },
        onclick: () => this.remove(s) }, 'Remove')));
  }

  /** Send the form; without a confirmed fingerprint the server shows the site's. */
  async add(fingerprint = null) {
    this.formError.show(null);
    for (const f of [this.name, this.url, this.token]) f.setError(null);
    const body = fingerprint ? { ...this.pending, fingerprint } : {
      name: this.name.input.value.trim(), url: this.url.input.value.trim(), token: this.token.input.value.trim(),
    };
    this.submit.disabled = true;
    try {
      const site = await sitesApi.add(body);
      this.showConfirm(null);
      for (const f of [this.name, this.url, this.token]) f.input.value = '';
      toast(`Site ${site.name} linked: its cameras and alarms appear here shortly`, 'ok');
      await Promise.all([this.load(), loadLinkedSites()]);
    } catch (err) {
      const shown = err.status === 409 ? err.body?.detail?.fingerprint : null;
      if (shown) {
        this.pending = body;
        this.showConfirm(shown);
      } else {
        this.showConfirm(null);
        placeErrors(err, {
          name: (m) => this.name.setError(m), url: (m) => this.url.setError(m),
          token: (m) => this.token.setError(m),
        }, (m) => this.formError.show(m));
      }
    } finally {
      this.submit.disabled = false;
    }
  }

  /** Ask the administrator to confirm the certificate `fingerprint` (null: hide the question). */
  showConfirm(fingerprint) {
    this.confirmBox.hidden = !fingerprint;
    this.submit.hidden = Boolean(fingerprint);
    if (!fingerprint) {
      this.pending = null;
      replace(this.confirmBox);
      return;
    }
    replace(this.confirmBox,
      h('p', {}, `${this.pending.url} presents the certificate with SHA-256 fingerprint`),
      h('code', { class: 'secret', dataset: { testid: 'site-fingerprint' } }, fingerprint),
      h('p', { class: 'hint' }, 'Check it with the site’s administrator before trusting it. '
        + 'Trusting pins this certificate: if the site ever shows another, the link is refused.'),
      h('div', { class: 'form-actions' },
        h('button', { type: 'button', class: 'btn', dataset: { testid: 'cancel-site' },
          onclick: () => this.showConfirm(null) }, 'Cancel'),
        h('button', { type: 'button', class: 'btn btn-primary', dataset: { testid: 'trust-site' },
          onclick: () => this.add(fingerprint) }, 'Trust and link')));
  }

  async remove(s) {
    if (!await confirmDialog(`Unlink ${s.name}? Its cameras, alarms and events are no longer shown here `
      + '(the site keeps all of them).', { ok: 'Remove', danger: true })) return;
    try {
      await sitesApi.remove(s.name);
      toast(`${s.name} unlinked`, 'ok');
    } catch (err) {
      toast(`Could not remove ${s.name}: ${err.message}`, 'error', 8000);
    }
    await Promise.all([this.load(), loadLinkedSites()]);
  }
}
