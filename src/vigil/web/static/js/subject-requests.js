// Data-subject requests (permission manage: the data protection officer is an administrator).
//   #/privacy          the requests, newest first (?status=)
//   #/privacy/new      open one: who, what (access or erasure), legal basis, where and when to
//                      look, the plate and/or a photo of the face
//   #/privacy/{id}     one request: search and its progress (cancel), the hits to review
//                      (thumbnails, confirm or set aside), then the redacted export (access) or
//                      the erasure (erasure, typed confirmation), close or reject, and the record
// The server does the work (api/routes/subject_requests.py); this page follows the request's
// job every second while it runs.

import { api, errorOf, query, request } from './api.js';
import { store } from './store.js';
import { cleanMessage, formField, formatDateTime, fromLocalInput, h, replace, toLocalInput, toast } from './ui.js';

const BASE = '/api/privacy/requests';
const POLL_MS = 1000;
const STATUSES = ['open', 'searching', 'review', 'completed', 'rejected'];
const ERASE_WORD = 'ERASE';

const post = (path, body) => api(path, { method: 'POST', body });

/** The requests API; a reference photo goes as multipart (the request as JSON beside it). */
export const subjectRequests = {
  list: (status, opts) => api(`${BASE}${query({ status })}`, opts),
  get: (id, opts) => api(`${BASE}/${id}`, opts),
  async create(body, face) {
    if (!face) return post(BASE, body);
    const form = new FormData();
    form.append('request', JSON.stringify(body));
    form.append('face', face);
    const response = await request(BASE, { method: 'POST', body: form, headers: { Accept: 'application/json' } });
    if (!response.ok) throw await errorOf(response);
    return response.json();
  },
  search: (id) => post(`${BASE}/${id}/search`),
  cancel: (id) => post(`${BASE}/${id}/cancel`),
  hits: (id, opts) => api(`${BASE}/${id}/hits`, opts),
  selectHit: (id, hitId, selected) => api(`${BASE}/${id}/hits/${hitId}`, { method: 'PATCH', body: { selected } }),
  exportHits: (id, body) => post(`${BASE}/${id}/export`, body),
  exportUrl: (id) => `${BASE}/${id}/export.zip`,
  faceUrl: (id) => `${BASE}/${id}/face`,
  erase: (id, body) => post(`${BASE}/${id}/erase`, body),
  close: (id, note) => post(`${BASE}/${id}/close`, { note }),
  reject: (id, reason) => post(`${BASE}/${id}/reject`, { reason }),
};

export function mount(root, { id = null, params = new URLSearchParams() } = {}) {
  const view = id === 'new' ? new NewRequestView(root) : id ? new RequestView(root, Number(id)) : new ListView(root, params);
  return () => view.destroy?.();
}

const cameraName = (cameraId) => store.cameras.find((c) => c.id === cameraId)?.name ?? `camera ${cameraId}`;
const badge = (status) => h('span', { class: `badge dsr-${status}`, dataset: { testid: 'dsr-status', status } }, status);

function jobText(job) {
  if (!job) return '—';
  const pct = job.state === 'running' ? ` ${Math.round(job.progress * 100)} %` : '';
  return `${job.kind} ${job.state}${pct}`;
}

class ListView {
  constructor(root, params) {
    this.status = params.get('status') ?? '';
    this.abort = new AbortController();
    const select = h('select', { class: 'input input-small', dataset: { testid: 'dsr-filter' },
      onchange: () => { location.hash = `#/privacy${query({ status: select.value })}`; } },
    h('option', { value: '' }, 'Any status'), STATUSES.map((s) => h('option', { value: s }, s)));
    select.value = this.status;
    this.tbody = h('tbody');
    this.empty = h('div', { class: 'empty', hidden: true }, 'No data-subject request.');
    this.error = h('div', { class: 'banner error', hidden: true });
    replace(root, h('div', { class: 'search-view', dataset: { testid: 'dsr-list' } },
      h('div', { class: 'view-header' }, h('h1', {}, 'Data-subject requests'), select, h('span', { class: 'spacer' }),
        h('a', { class: 'btn btn-primary', href: '#/privacy/new', dataset: { testid: 'dsr-new' } }, 'New request')),
      this.error,
      h('table', { class: 'table compact' },
        h('thead', {}, h('tr', {}, ['#', 'Kind', 'Status', 'Subject', 'Legal basis', 'Opened', 'By', 'Hits', 'Work']
          .map((t) => h('th', {}, t)))),
        this.tbody),
      this.empty));
    this.load();
  }

  destroy() {
    this.abort.abort();
  }

  async load() {
    try {
      const rows = await subjectRequests.list(this.status || null, { signal: this.abort.signal });
      this.empty.hidden = rows.length > 0;
      replace(this.tbody, rows.map((r) => h('tr', {
        class: 'clickable', dataset: { testid: 'dsr-row', id: r.id }, onclick: () => { location.hash = `#/privacy/${r.id}`; },
      },
      h('td', { class: 'num' }, r.id), h('td', {}, r.kind), h('td', {}, badge(r.status)), h('td', {}, r.subject),
      h('td', {}, r.legal_reference), h('td', { class: 'nowrap' }, formatDateTime(r.created_at)), h('td', {}, r.created_by),
      h('td', { class: 'num' }, r.hits), h('td', {}, jobText(r.job)))));
    } catch (err) {
      if (err.name === 'AbortError') return;
      this.error.hidden = false;
      this.error.textContent = `Requests not loaded: ${err.message}`;
    }
  }
}

class NewRequestView {
  constructor(root) {
    const now = new Date();
    const input = (attrs) => h('input', { class: 'input', ...attrs });
    this.fields = {
      kind: formField('Request', h('select', { class: 'input' },
        h('option', { value: 'access' }, 'Access: a copy of the footage of the subject (others redacted)'),
        h('option', { value: 'erasure' }, 'Erasure: delete the footage of the subject')), { name: 'kind', required: true }),
      subject: formField('Subject', h('textarea', { class: 'input', rows: 2, maxlength: 2000 }),
        { name: 'subject', required: true, hint: 'Who or what: the person, the vehicle' }),
      legal_reference: formField('Legal basis', input({ maxlength: 500 }),
        { name: 'legal_reference', required: true, hint: 'The law or case the request rests on' }),
      requester_contact: formField('Requester contact', input({ maxlength: 500 }), { name: 'requester_contact', required: true }),
      camera_ids: formField('Cameras', h('select', { class: 'input', multiple: true, size: 6 }),
        { name: 'camera_ids', required: true }),
      start: formField('From', input({ type: 'datetime-local', step: '1', value: toLocalInput(new Date(now - 86_400_000)) }),
        { name: 'start', required: true }),
      end: formField('To', input({ type: 'datetime-local', step: '1', value: toLocalInput(now) }), { name: 'end', required: true }),
      plate: formField('Licence plate', input({ maxlength: 20, placeholder: 'e.g. KA 482 BX' }), { name: 'plate' }),
      face: formField('Photo of the face', input({ type: 'file', accept: 'image/jpeg,image/png' }),
        { name: 'face', hint: 'JPEG or PNG, at most 5 MB, showing only the subject' }),
    };
    // The camera list may still be on its way: fill the choice when it comes.
    let listed = null;
    this.fillCameras = () => {
      const key = store.cameras.map((c) => `${c.id}:${c.name}`).join('|');
      if (key === listed) return; // a status change: the choice stays as it is
      listed = key;
      const chosen = new Set([...this.fields.camera_ids.input.selectedOptions].map((o) => o.value));
      replace(this.fields.camera_ids.input, store.cameras.map((c) =>
        h('option', { value: c.id, selected: chosen.has(String(c.id)) }, c.name)));
    };
    this.fillCameras();
    store.addEventListener('change', this.fillCameras);
    this.error = h('div', { class: 'banner error', hidden: true, dataset: { testid: 'dsr-form-error' } });
    this.submit = h('button', { class: 'btn btn-primary', dataset: { testid: 'dsr-create' } }, 'Open request');
    const f = this.fields;
    replace(root, h('div', { class: 'search-view', dataset: { testid: 'dsr-form' } },
      h('div', { class: 'view-header' }, h('h1', {}, 'New data-subject request'), h('span', { class: 'spacer' }),
        h('a', { class: 'btn', href: '#/privacy' }, 'Cancel')),
      h('form', { class: 'panel', style: { maxWidth: '720px' }, onsubmit: (e) => { e.preventDefault(); this.save(); } },
        f.kind.el, f.subject.el, f.legal_reference.el, f.requester_contact.el, f.camera_ids.el,
        h('div', { class: 'search-form' }, f.start.el, f.end.el), f.plate.el, f.face.el,
        h('div', { class: 'hint' }, 'Give the plate, the photo, or both.'), this.error,
        h('div', { class: 'form-actions' }, this.submit))));
  }

  destroy() {
    store.removeEventListener('change', this.fillCameras);
  }

  async save() {
    const f = this.fields;
    const start = fromLocalInput(f.start.input.value);
    const end = fromLocalInput(f.end.input.value);
    const body = {
      kind: f.kind.input.value,
      subject: f.subject.input.value.trim(),
      legal_reference: f.legal_reference.input.value.trim(),
      requester_contact: f.requester_contact.input.value.trim(),
      criteria: {
        camera_ids: [...f.camera_ids.input.selectedOptions].map((o) => Number(o.value)),
        start: start?.toISOString() ?? null,
        end: end?.toISOString() ?? null,
        plate: f.plate.input.value.trim() || null,
      },
    };
    this.error.hidden = true;
    this.submit.disabled = true;
    try {
      const created = await subjectRequests.create(body, f.face.input.files[0] ?? null);
      toast(`Request ${created.id} opened`, 'ok');
      location.hash = `#/privacy/${created.id}`;
    } catch (err) {
      this.showErrors(err);
    } finally {
      this.submit.disabled = false;
    }
  }

  showErrors(err) {
    let placed = false;
    for (const [field, message] of Object.entries(err.fields ?? {})) {
      const name = field.replace(/^criteria\.?/, '') || 'start';
      const target = this.fields[name] ?? this.fields[field];
      if (target) {
        target.setError(cleanMessage(message));
        placed = true;
      }
    }
    if (!placed) {
      this.error.hidden = false;
      this.error.textContent = cleanMessage(err.message);
    }
  }
}

class RequestView {
  constructor(root, id) {
    this.root = root;
    this.id = id;
    this.abort = new AbortController();
    this.timer = null;
    this.row = null;
    this.hits = [];
    replace(root, h('div', { class: 'search-view' }, h('div', { class: 'empty' }, 'Loading…')));
    this.load();
  }

  destroy() {
    this.abort.abort();
    clearTimeout(this.timer);
  }

  async load() {
    clearTimeout(this.timer);
    try {
      const signal = this.abort.signal;
      this.row = await subjectRequests.get(this.id, { signal });
      const reviewing = ['review', 'completed', 'rejected'].includes(this.row.status) || this.row.hits > 0;
      this.hits = reviewing ? await subjectRequests.hits(this.id, { signal }) : [];
      this.render();
      if (this.row.job?.state === 'running') this.timer = setTimeout(() => this.load(), POLL_MS);
    } catch (err) {
      if (err.name === 'AbortError') return;
      replace(this.root, h('div', { class: 'search-view' }, h('div', { class: 'banner error', dataset: { testid: 'dsr-error' } },
        `Request ${this.id} not loaded: ${err.message}`), h('a', { href: '#/privacy' }, 'All requests')));
    }
  }

  /** Run an action; show the server's refusal (409: locked footage, wrong state...) plainly. */
  async act(what, fn) {
    try {
      await fn();
      toast(what, 'ok');
    } catch (err) {
      toast(`${what} refused: ${cleanMessage(err.message)}`, 'error', 12000);
      this.notice(cleanMessage(err.message));
    }
    this.load();
  }

  notice(message) {
    this.lastError = message;
  }

  render() {
    const r = this.row;
    const c = r.criteria;
    const running = r.job?.state === 'running';
    const open = !['completed', 'rejected'].includes(r.status);
    const header = h('div', { class: 'view-header' },
      h('h1', {}, `Request ${r.id}: ${r.kind}`), badge(r.status), h('span', { class: 'spacer' }),
      h('a', { class: 'btn', href: '#/privacy' }, 'All requests'));
    const facts = h('div', { class: 'panel', dataset: { testid: 'dsr-facts' } },
      h('div', {}, h('strong', {}, 'Subject: '), r.subject),
      h('div', {}, h('strong', {}, 'Legal basis: '), r.legal_reference),
      h('div', {}, h('strong', {}, 'Requester: '), r.requester_contact),
      h('div', {}, h('strong', {}, 'Where and when: '),
        `${c.camera_ids.map(cameraName).join(', ')}, ${formatDateTime(c.start)} to ${formatDateTime(c.end)}`),
      h('div', {}, h('strong', {}, 'Looking for: '), [c.plate ? `plate ${c.plate}` : null, r.has_face ? 'a face' : null].filter(Boolean).join(' and ')),
      r.has_face ? h('img', { src: subjectRequests.faceUrl(r.id), alt: 'reference face', style: { maxHeight: '120px', marginTop: '6px' } }) : null,
      h('div', { class: 'meta' }, `Opened by ${r.created_by} at ${formatDateTime(r.created_at)}`,
        r.closed_at ? `; ${r.status} by ${r.closed_by ?? '—'} at ${formatDateTime(r.closed_at)}: ${r.close_note ?? ''}` : ''));
    const error = this.lastError ? h('div', { class: 'banner error', dataset: { testid: 'dsr-refusal' } }, this.lastError) : null;
    this.lastError = null;
    replace(this.root, h('div', { class: 'search-view', dataset: { testid: 'dsr-detail', status: r.status } },
      header, error, facts, this.jobPanel(r, running, open), this.hitsPanel(r, open && !running),
      open && !running ? this.actionsPanel(r) : null, this.recordPanel()));
  }

  jobPanel(r, running, open) {
    const job = r.job;
    const canSearch = ['open', 'review'].includes(r.status) && !running;
    const detail = job?.detail ?? {};
    const facts = job?.kind === 'search'
      ? `${detail.segments_done ?? 0} of ${detail.segments_total ?? 0} segments, ${detail.frames ?? 0} frames, ${detail.hits ?? 0} hits`
      : job ? `${detail.clips ?? 0} of ${detail.ranges ?? 0} clips` : '';
    return h('div', { class: 'panel', dataset: { testid: 'dsr-job', state: job?.state ?? 'none', kind: job?.kind ?? '' } },
      h('div', { class: 'search-form' },
        h('strong', {}, job ? `${job.kind[0].toUpperCase()}${job.kind.slice(1)}: ${job.state}` : 'Not searched yet'),
        job ? h('div', { class: 'bar-track', style: { width: '240px' } },
          h('span', { class: 'bar', style: { width: `${Math.round(job.progress * 100)}%` }, dataset: { testid: 'dsr-progress' } })) : null,
        h('span', { class: 'meta' }, facts),
        canSearch && open ? h('button', { class: 'btn btn-primary', dataset: { testid: 'dsr-search' },
          onclick: () => this.act('Search started', () => subjectRequests.search(r.id)) }, r.status === 'review' ? 'Search again' : 'Search') : null,
        running ? h('button', { class: 'btn', dataset: { testid: 'dsr-cancel' },
          onclick: () => this.act('Cancel asked', () => subjectRequests.cancel(r.id)) }, 'Cancel') : null),
      job?.error ? h('div', { class: 'banner error' }, job.error) : null,
      (detail.problems ?? []).length ? h('details', {}, h('summary', {}, `${detail.problems.length} segment(s) could not be read`),
        h('ul', {}, detail.problems.map((p) => h('li', {}, `${cameraName(p.camera_id)} ${formatDateTime(p.start)}: ${p.problem}`)))) : null,
      (detail.cameras_without_footage ?? []).length
        ? h('div', { class: 'hint' }, `No footage in the period: ${detail.cameras_without_footage.map(cameraName).join(', ')}`) : null);
  }

  hitsPanel(r, editable) {
    if (!this.hits.length) {
      return r.status === 'review' ? h('div', { class: 'panel empty', dataset: { testid: 'dsr-no-hits' } }, 'The subject was not found.') : null;
    }
    const selected = this.hits.filter((x) => x.selected).length;
    return h('div', { class: 'panel' },
      h('div', {}, h('strong', {}, `Hits: ${this.hits.length}`), h('span', { class: 'meta' }, ` (${selected} confirmed as the subject)`)),
      h('div', { class: 'search-results' }, this.hits.map((hit) => h('div', {
        class: 'search-hit', dataset: { testid: 'dsr-hit', id: hit.id, selected: String(hit.selected) },
      },
      hit.thumbnail_url ? h('img', { src: hit.thumbnail_url, alt: `${hit.kind} on ${cameraName(hit.camera_id)}`, loading: 'lazy' })
        : h('div', { class: 'hit-noimage' }, 'image deleted'),
      h('div', { class: 'hit-time' }, `${formatDateTime(hit.first_at)} – ${formatDateTime(hit.last_at)}`),
      h('div', { class: 'hit-camera' }, cameraName(hit.camera_id)),
      h('div', { class: 'hit-what' }, hit.kind === 'plate' ? `plate ${hit.text ?? ''}` : 'face', ` · score ${hit.score.toFixed(2)}`),
      h('label', { class: 'field-check' }, h('input', {
        type: 'checkbox', checked: hit.selected, disabled: !editable, dataset: { testid: 'dsr-hit-selected' },
        onchange: (e) => this.act(e.target.checked ? 'Hit confirmed' : 'Hit set aside', () => subjectRequests.selectHit(r.id, hit.id, e.target.checked)),
      }), 'the subject')))));
  }

  actionsPanel(r) {
    const parts = [];
    if (r.status === 'review' && r.kind === 'access') {
      const pad = padInput();
      parts.push(h('div', { class: 'search-form', dataset: { testid: 'dsr-export-form' } },
        h('strong', {}, 'Redacted export'), h('label', { class: 'inline-label' }, 'seconds around each hit', pad),
        h('button', { class: 'btn btn-primary', dataset: { testid: 'dsr-export' },
          onclick: () => this.act('Export started', () => subjectRequests.exportHits(r.id, { pad_s: Number(pad.value) })) }, 'Export confirmed hits'),
        r.export_ready ? h('a', { class: 'btn', href: subjectRequests.exportUrl(r.id), download: '', dataset: { testid: 'dsr-download' } },
          'Download signed ZIP') : null));
    }
    if (r.status === 'review' && r.kind === 'erasure') {
      const pad = padInput();
      const reason = h('input', { class: 'input', placeholder: 'why (decision, reference)', size: 40, dataset: { testid: 'dsr-erase-reason' } });
      const confirm = h('input', { class: 'input input-small', placeholder: `type ${ERASE_WORD}`, size: 8, dataset: { testid: 'dsr-erase-confirm' } });
      parts.push(h('div', { class: 'search-form', dataset: { testid: 'dsr-erase-form' } },
        h('strong', {}, 'Erase the footage of the confirmed hits'), h('label', { class: 'inline-label' }, 'seconds around each hit', pad),
        reason, confirm,
        h('button', { class: 'btn btn-danger', dataset: { testid: 'dsr-erase' },
          onclick: () => this.act('Footage erased', () => subjectRequests.erase(r.id, {
            confirm: confirm.value, reason: reason.value.trim(), pad_s: Number(pad.value),
          })) }, 'Erase for good')),
      h('div', { class: 'hint' }, 'Whole segments (about 10 s) are deleted; footage under an evidence lock is refused and nothing is erased.'));
    }
    const note = h('input', { class: 'input', size: 40, placeholder: 'what was done / why', dataset: { testid: 'dsr-close-note' } });
    parts.push(h('div', { class: 'search-form' }, note,
      r.status === 'review' ? h('button', { class: 'btn', dataset: { testid: 'dsr-close' },
        onclick: () => this.act('Request completed', () => subjectRequests.close(r.id, note.value.trim())) }, 'Complete') : null,
      h('button', { class: 'btn btn-danger', dataset: { testid: 'dsr-reject' },
        onclick: () => this.act('Request rejected', () => subjectRequests.reject(r.id, note.value.trim())) }, 'Reject')));
    return h('div', { class: 'panel', dataset: { testid: 'dsr-actions' } }, parts);
  }

  recordPanel() {
    return h('div', { class: 'panel' }, h('strong', {}, 'Record'),
      h('table', { class: 'table compact', dataset: { testid: 'dsr-record' } },
        h('thead', {}, h('tr', {}, ['Time', 'Who', 'What', 'Outcome', 'Details'].map((t) => h('th', {}, t)))),
        h('tbody', {}, this.row.record.map((e) => h('tr', { dataset: { testid: 'dsr-record-row', action: e.action, outcome: e.outcome } },
          h('td', { class: 'nowrap' }, formatDateTime(e.at)), h('td', {}, e.username ?? 'Vigil'), h('td', {}, e.action),
          h('td', {}, e.outcome), h('td', { class: 'audit-details' }, summary(e.details)))))));
  }
}

/** Seconds of footage kept around each hit (the server's default: 5). */
function padInput() {
  return h('input', { class: 'input input-small', type: 'number', min: '0', max: '600', step: '1', value: '5', size: 4, dataset: { testid: 'dsr-pad' } });
}

/** A short line from an entry's details (an erasure's segment list is counted, not listed). */
function summary(details) {
  return Object.entries(details ?? {}).map(([k, v]) => {
    if (Array.isArray(v)) return `${k}=${v.length && typeof v[0] === 'object' ? `${v.length} item(s)` : v.join(',')}`;
    return `${k}=${typeof v === 'object' && v !== null ? JSON.stringify(v) : v}`;
  }).join(' ');
}
