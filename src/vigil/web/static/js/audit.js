// The audit trail (#/audit, permission audit): who did what, when, from where, with what
// outcome. Filters (user, action or action prefix such as "auth.", camera, time, outcome)
// live in the hash query, so a view can be bookmarked or handed over; pages of PAGE entries,
// newest first; the CSV export takes the same filters; "Verify chain" asks the server to
// re-check the hash chain over every entry and shows what it found.

import { audit as auditApi } from './api.js';
import { formatDateTime, fromLocalInput, h, replace, toLocalInput, toast } from './ui.js';

const PAGE = 50;
const FILTERS = ['username', 'action', 'camera_id', 'since', 'until', 'outcome'];
const OUTCOMES = [['', 'Any'], ['success', 'Success'], ['failure', 'Failure'], ['denied', 'Denied']];

export function mount(root, { params = new URLSearchParams() } = {}) {
  const view = new AuditView(root, params);
  return () => view.destroy();
}

class AuditView {
  constructor(root, params) {
    this.filters = Object.fromEntries(FILTERS.map((k) => [k, params.get(k) ?? '']));
    this.page = Math.max(0, Number(params.get('page')) || 0);
    this.abort = null;

    const input = (name, attrs) => h('input', { class: 'input input-small', value: this.filters[name], dataset: { testid: `audit-${name}` }, ...attrs });
    this.inputs = {
      username: input('username', { placeholder: 'any', size: 12 }),
      action: input('action', { placeholder: 'e.g. auth. or user.create', size: 20, title: 'An action, or a prefix ending in “.”' }),
      camera_id: input('camera_id', { type: 'number', min: '1', placeholder: 'any', size: 6 }),
      since: h('input', { class: 'input input-small', type: 'datetime-local', step: '1', dataset: { testid: 'audit-since' } }),
      until: h('input', { class: 'input input-small', type: 'datetime-local', step: '1', dataset: { testid: 'audit-until' } }),
      outcome: h('select', { class: 'input input-small', dataset: { testid: 'audit-outcome' } },
        OUTCOMES.map(([v, label]) => h('option', { value: v }, label))),
    };
    for (const k of ['since', 'until']) if (this.filters[k]) this.inputs[k].value = toLocalInput(new Date(this.filters[k]));
    this.inputs.outcome.value = this.filters.outcome;
    this.inputs.outcome.addEventListener('change', () => this.apply());

    this.summary = h('span', { class: 'meta', dataset: { testid: 'audit-range' } });
    this.error = h('div', { class: 'banner error', hidden: true, dataset: { testid: 'audit-error' } });
    this.verdict = h('div', { class: 'banner', hidden: true, dataset: { testid: 'audit-verify-result' } });
    this.tbody = h('tbody');
    this.empty = h('div', { class: 'empty', hidden: true, dataset: { testid: 'audit-empty' } }, 'No entry matches these filters.');
    this.prev = h('button', { class: 'btn btn-small', dataset: { testid: 'audit-prev' }, onclick: () => this.go(this.page - 1) }, '‹ Newer');
    this.next = h('button', { class: 'btn btn-small', dataset: { testid: 'audit-next' }, onclick: () => this.go(this.page + 1) }, 'Older ›');
    this.exportLink = h('a', { class: 'btn btn-small', download: 'vigil-audit.csv', dataset: { testid: 'audit-export' },
      title: 'The entries matching the filters, oldest first (the export is itself audited)' }, 'Export CSV');
    this.verifyButton = h('button', { class: 'btn btn-small', dataset: { testid: 'audit-verify' },
      title: 'Re-check the hash chain over every entry: edited, deleted or inserted entries are found',
      onclick: () => this.verify() }, 'Verify chain');

    const label = (text, el) => h('label', { class: 'inline-label' }, text, el);
    replace(root, h('div', { class: 'audit-view', dataset: { testid: 'audit-view' } },
      h('div', { class: 'view-header' }, h('h1', {}, 'Audit trail'), this.summary, h('span', { class: 'spacer' }),
        this.prev, this.next, this.exportLink, this.verifyButton),
      h('form', { class: 'filter-bar', dataset: { testid: 'audit-filters' }, onsubmit: (e) => { e.preventDefault(); this.apply(); } },
        label('User', this.inputs.username), label('Action', this.inputs.action), label('Camera', this.inputs.camera_id),
        label('From', this.inputs.since), label('To', this.inputs.until), label('Outcome', this.inputs.outcome),
        h('button', { class: 'btn btn-small btn-primary', dataset: { testid: 'audit-apply' } }, 'Filter'),
        h('button', { type: 'button', class: 'btn btn-small', dataset: { testid: 'audit-clear' }, onclick: () => this.clear() }, 'Clear')),
      h('div', { class: 'audit-body' }, this.verdict, this.error,
        h('table', { class: 'table compact', dataset: { testid: 'audit-table' } },
          h('thead', {}, h('tr', {}, ['Time', 'User', 'Action', 'Outcome', 'Camera', 'Target', 'Address', 'Details']
            .map((t) => h('th', {}, t)))),
          this.tbody),
        this.empty)));
    this.load();
  }

  destroy() {
    this.abort?.abort();
  }

  /** Read the filter inputs, keep them in the hash, and show their first page. */
  apply() {
    for (const k of ['username', 'action', 'camera_id']) this.filters[k] = this.inputs[k].value.trim();
    for (const k of ['since', 'until']) {
      const d = fromLocalInput(this.inputs[k].value);
      this.filters[k] = d ? d.toISOString() : '';
    }
    this.filters.outcome = this.inputs.outcome.value;
    this.go(0);
  }

  clear() {
    for (const el of Object.values(this.inputs)) el.value = '';
    this.apply();
  }

  go(page) {
    this.page = Math.max(0, page);
    const q = new URLSearchParams();
    for (const k of FILTERS) if (this.filters[k]) q.set(k, this.filters[k]);
    if (this.page) q.set('page', String(this.page));
    const qs = q.toString();
    history.replaceState(null, '', `#/audit${qs ? `?${qs}` : ''}`);
    this.load();
  }

  params() {
    return Object.fromEntries(FILTERS.filter((k) => this.filters[k]).map((k) => [k, this.filters[k]]));
  }

  async load() {
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    this.exportLink.href = auditApi.csvUrl(this.params());
    try {
      const result = await auditApi.list({ ...this.params(), limit: PAGE, offset: this.page * PAGE }, { signal: abort.signal });
      this.error.hidden = true;
      this.render(result);
    } catch (err) {
      if (err.name === 'AbortError') return;
      this.error.hidden = false;
      this.error.textContent = `Audit trail not loaded: ${err.message}`;
    }
  }

  render({ total, offset, entries }) {
    this.summary.textContent = total
      ? `${offset + 1}–${offset + entries.length} of ${total} entr${total === 1 ? 'y' : 'ies'}`
      : '0 entries';
    this.prev.disabled = offset === 0;
    this.next.disabled = offset + entries.length >= total;
    this.empty.hidden = entries.length > 0;
    replace(this.tbody, entries.map((e) => h('tr', {
      class: `audit-row outcome-${e.outcome}`, dataset: { testid: 'audit-row', id: e.id, action: e.action, outcome: e.outcome },
    },
    h('td', { class: 'nowrap' }, formatDateTime(e.at)),
    h('td', { dataset: { field: 'username' } }, e.username ?? '—'),
    h('td', { dataset: { field: 'action' } }, h('code', {}, e.action)),
    h('td', {}, h('span', { class: `badge outcome-badge outcome-${e.outcome}` }, e.outcome)),
    h('td', { class: 'num' }, e.camera_id ?? ''),
    h('td', {}, e.target ?? ''),
    h('td', {}, e.address ?? ''),
    h('td', { class: 'audit-details' }, detailsText(e.details)))));
  }

  async verify() {
    this.verifyButton.disabled = true;
    try {
      const report = await auditApi.verify();
      this.verdict.className = `banner ${report.ok ? 'ok' : 'error'}`;
      this.verdict.dataset.ok = String(report.ok);
      replace(this.verdict, report.ok
        ? `Chain intact: ${report.entries} entr${report.entries === 1 ? 'y' : 'ies'} checked, up to #${report.last_id}.`
        : [`Chain broken: ${report.problems.length} problem(s) in ${report.entries} entries.`,
          h('ul', {}, report.problems.map((p) => h('li', { dataset: { testid: 'audit-problem', kind: p.kind } },
            `#${p.id} ${p.kind}: ${p.message}`)))]);
      this.verdict.hidden = false;
      this.load(); // the check is itself an entry
    } catch (err) {
      toast(`Verification failed: ${err.message}`, 'error', 8000);
    } finally {
      this.verifyButton.disabled = false;
    }
  }
}

/** "permission=live method=GET" from an entry's details. */
function detailsText(details) {
  const parts = Object.entries(details ?? {}).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return parts.join(' ');
}
