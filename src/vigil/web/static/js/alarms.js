// The alarm queue (#/alarms): open alarms sorted by priority then time as the server orders
// them, filtered by the hash query (#/alarms?state=open&priority=1&category=&camera_id=),
// refreshed live from the alarm changes on the events WebSocket. Selecting an alarm opens its
// detail beside the queue (#/alarms/{id}, the same query kept). Keys, for an operator who
// works the queue without the mouse: j / ↓ next alarm, k / ↑ previous, a acknowledge the
// one open beside the queue, Escape close it.

import { AlarmDetail } from './alarm-detail.js';
import { PRIORITIES, STATES, clearedFlag, priorityBadge, stateChip } from './alarm-format.js';
import { alarms as alarmsApi, linkedSitesReady } from './api.js';
import { pushButton } from './push.js';
import { siteBadge } from './site-badge.js';
import { SOUND_MODES, setSoundMode, soundMode } from './sounds.js';
import { alarmStore, store } from './store.js';
import { formatAgo, formatDateTime, h, isShortcut, replace, toast } from './ui.js';

const REFETCH_DEBOUNCE_MS = 200;
const AGE_TICK_MS = 5000;
const PAGE = 200;
const FILTERS = ['state', 'priority', 'category', 'camera_id'];

/** Mount the queue; `id` selects an alarm, `params` are the hash query's filters. */
export function mount(root, { id = null, params = new URLSearchParams() } = {}) {
  const view = new AlarmQueue(root, params);
  if (id) view.select(Number(id), { push: false });
  return () => view.destroy();
}

class AlarmQueue {
  constructor(root, params) {
    this.filters = Object.fromEntries(FILTERS.map((k) => [k, params.get(k) ?? '']));
    if (!this.filters.state) this.filters.state = 'open';
    this.selected = null;
    this.detail = null;
    this.items = [];
    this.abort = null;
    this.debounce = null;

    this.summary = h('span', { class: 'meta', dataset: { testid: 'alarm-summary' } });
    this.error = h('div', { class: 'banner error', hidden: true, dataset: { testid: 'alarms-error' } });
    this.tbody = h('tbody');
    this.empty = h('div', { class: 'empty', hidden: true, dataset: { testid: 'alarms-empty' } });
    this.side = h('aside', { class: 'alarm-side', hidden: true, dataset: { testid: 'alarm-side' } });

    const sound = h('select', { class: 'input input-small', dataset: { testid: 'sound-mode' },
      title: 'Beep when a new alarm arrives', onchange: () => setSoundMode(sound.value) },
    SOUND_MODES.map((m) => h('option', { value: m.value }, m.label)));
    sound.value = soundMode();

    replace(root, h('div', { class: 'alarms-view', dataset: { testid: 'alarms-view' } },
      h('div', { class: 'view-header' },
        h('h1', {}, 'Alarms'), this.summary, h('span', { class: 'spacer' }),
        h('span', { class: 'meta keys-hint', dataset: { testid: 'alarm-keys' }, title: 'Keyboard' },
          'j/k next · a acknowledge · Esc close'),
        sound, pushButton(),
        h('a', { class: 'btn btn-small', href: '#/alarms/stats', dataset: { testid: 'alarm-stats-link' } }, 'Statistics'),
        h('a', { class: 'btn btn-small', href: '#/rules', dataset: { testid: 'rules-link' } }, 'Rules')),
      this.filterBar(),
      this.error,
      h('div', { class: 'alarms-body' },
        h('div', { class: 'alarm-list' },
          h('table', { class: 'table alarm-table', dataset: { testid: 'alarm-table' } },
            h('thead', {}, h('tr', {},
              ['Priority', 'Alarm', 'State', 'Owner', 'Camera', 'Age', 'Count', ''].map((t) => h('th', {}, t)))),
            this.tbody),
          this.empty),
        this.side)));

    this.onAlarm = (e) => this.changed(e.detail);
    this.onResync = () => this.load();
    // Without the WebSocket, the header's count poll is the only news: follow it.
    this.onCounts = () => { if (!store.eventsConnected) this.load(); };
    alarmStore.addEventListener('alarm', this.onAlarm);
    alarmStore.addEventListener('resync', this.onResync);
    alarmStore.addEventListener('change', this.onCounts);
    this.ageTimer = setInterval(() => this.renderAges(), AGE_TICK_MS);
    this.onKey = (e) => this.key(e);
    document.addEventListener('keydown', this.onKey);
    this.load();
  }

  /** The queue's keys; none while typing in a field or with a modifier held. */
  key(e) {
    if (!isShortcut(e)) return;
    const rows = [...this.tbody.querySelectorAll('[data-testid="alarm-row"]')];
    const at = rows.findIndex((tr) => Number(tr.dataset.alarmId) === this.selected);
    const step = { j: 1, ArrowDown: 1, k: -1, ArrowUp: -1 }[e.key];
    if (step && rows.length) {
      e.preventDefault();
      const next = rows[Math.min(rows.length - 1, Math.max(0, at < 0 ? 0 : at + step))];
      this.select(Number(next.dataset.alarmId));
      next.scrollIntoView({ block: 'nearest' });
    } else if (e.key === 'a' && this.selected) {
      e.preventDefault();
      this.acknowledge(this.selected);
    } else if (e.key === 'Escape' && this.selected) {
      this.select(null);
    }
  }

  async acknowledge(id) {
    const alarm = this.items.find((a) => a.id === id);
    if (alarm && alarm.state !== 'new') return; // acknowledged already, or further on
    try {
      await alarmsApi.transition(id, 'acknowledged');
      toast(`Alarm ${id} acknowledged`, 'ok');
    } catch (err) {
      toast(`Alarm ${id} not acknowledged: ${err.message}`, 'error');
    }
    if (this.selected === id) this.select(id, { push: false });
    this.load();
  }

  destroy() {
    document.removeEventListener('keydown', this.onKey);
    clearInterval(this.ageTimer);
    clearTimeout(this.debounce);
    this.abort?.abort();
    this.detail?.destroy();
    store.removeEventListener('change', this.onCameras);
    alarmStore.removeEventListener('alarm', this.onAlarm);
    alarmStore.removeEventListener('resync', this.onResync);
    alarmStore.removeEventListener('change', this.onCounts);
  }

  filterBar() {
    const select = (name, options, label) => {
      const el = h('select', { class: 'input input-small', dataset: { testid: `filter-${name}` },
        onchange: () => this.setFilter(name, el.value) },
      options.map(([value, text]) => h('option', { value }, text)));
      el.value = this.filters[name];
      return h('label', { class: 'inline-label' }, label, el);
    };
    const states = [['open', 'Open'], ['closed', 'Closed'], ['all', 'All'],
      ...Object.entries(STATES).filter(([s]) => s !== 'closed')];
    const priorities = [['', 'Any'], ...Object.entries(PRIORITIES).map(([p, n]) => [p, `${p} ${n}`])];
    this.cameraSelect = h('select', { class: 'input input-small', dataset: { testid: 'filter-camera_id' },
      onchange: () => this.setFilter('camera_id', this.cameraSelect.value) });
    this.renderCameraOptions();
    this.onCameras = () => this.renderCameraOptions();
    store.addEventListener('change', this.onCameras);
    const category = h('input', { class: 'input input-small', placeholder: 'any', size: 12,
      value: this.filters.category, dataset: { testid: 'filter-category' } });
    category.addEventListener('change', () => this.setFilter('category', category.value.trim()));
    return h('div', { class: 'filter-bar', dataset: { testid: 'alarm-filters' } },
      select('state', states, 'State'),
      select('priority', priorities, 'Priority'),
      h('label', { class: 'inline-label' }, 'Category', category),
      h('label', { class: 'inline-label' }, 'Camera', this.cameraSelect));
  }

  renderCameraOptions() {
    const sig = store.cameras.map((c) => `${c.id}:${c.name}`).join('|');
    if (this.cameraSelect.dataset.sig === sig) return;
    this.cameraSelect.dataset.sig = sig;
    replace(this.cameraSelect, h('option', { value: '' }, 'Any'),
      store.cameras.map((c) => h('option', { value: String(c.id) }, c.name)));
    this.cameraSelect.value = this.filters.camera_id;
  }

  setFilter(name, value) {
    this.filters[name] = value;
    history.replaceState(null, '', this.hashFor(this.selected));
    this.load();
  }

  /** The hash of the queue (or of one alarm in it) with the current filters. */
  hashFor(id) {
    const q = new URLSearchParams();
    for (const k of FILTERS) if (this.filters[k] && !(k === 'state' && this.filters[k] === 'open')) q.set(k, this.filters[k]);
    const qs = q.toString();
    return `#/alarms${id ? `/${id}` : ''}${qs ? `?${qs}` : ''}`;
  }

  /** An alarm.changed message: refetch the list (debounced), and the open alarm's detail. */
  changed(payload) {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.load(), REFETCH_DEBOUNCE_MS);
    if (payload.alarm_id === this.selected) this.detail?.refresh();
  }

  async load() {
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    const params = { limit: PAGE };
    for (const k of FILTERS) if (this.filters[k]) params[k] = this.filters[k];
    try {
      const [{ total, items }] = await Promise.all([alarmsApi.list(params, { signal: abort.signal }), linkedSitesReady()]);
      this.items = items;
      this.error.hidden = true;
      this.render(total);
    } catch (err) {
      if (err.name === 'AbortError') return;
      this.error.hidden = false;
      this.error.textContent = `Alarms not updated: ${err.message}`;
    }
  }

  render(total) {
    const shown = this.items.length;
    this.summary.textContent = `${total} alarm${total === 1 ? '' : 's'}` +
      (shown < total ? ` · showing the first ${shown}` : '');
    this.empty.hidden = shown > 0;
    this.empty.textContent = this.filters.state === 'open' ? 'No open alarms.' : 'No alarms match these filters.';
    replace(this.tbody, this.items.map((a) => this.row(a)));
  }

  row(a) {
    const flags = [];
    if (a.escalated_at) {
      flags.push(h('span', { class: 'flag flag-escalated', dataset: { testid: 'alarm-escalated' },
        title: `Escalated ${formatDateTime(a.escalated_at)}: not acknowledged in time` }, '▲ escalated'));
    }
    if (a.condition_cleared_at) flags.push(clearedFlag(a.condition_cleared_at));
    if (a.failed_actions > 0) {
      flags.push(h('span', { class: 'flag flag-failed', dataset: { testid: 'alarm-failed-actions' },
        title: 'Actions that failed after every retry: open the alarm to see why' }, `⚠ ${a.failed_actions} failed`));
    }
    const age = h('td', { class: 'age', dataset: { field: 'age', at: a.first_at ?? a.created_at },
      title: formatDateTime(a.first_at ?? a.created_at) }, formatAgo(a.first_at ?? a.created_at));
    return h('tr', {
      class: `alarm-row prio-row-${a.priority}${a.id === this.selected ? ' selected' : ''}`,
      dataset: { testid: 'alarm-row', alarmId: a.id, state: a.state, priority: a.priority },
      tabindex: 0,
      onclick: () => this.select(a.id),
      onkeydown: (e) => { if (e.key === 'Enter') this.select(a.id); },
    },
    h('td', {}, priorityBadge(a.priority, a.priority_name)),
    h('td', {}, h('span', { class: 'alarm-title', dataset: { testid: 'alarm-title' } }, a.title),
      h('span', { class: 'sub' }, [a.category, a.rule_name].filter(Boolean).join(' · '))),
    h('td', {}, stateChip(a.state)),
    h('td', { dataset: { field: 'owner', testid: 'alarm-owner' } }, a.owner ?? '—'),
    h('td', { dataset: { field: 'camera' } }, a.camera_name ?? '—', siteBadge(a)),
    age,
    h('td', { class: 'num', dataset: { field: 'occurrences' }, title: 'Occurrences' },
      a.occurrences > 1 ? `×${a.occurrences}` : '1'),
    h('td', { class: 'flags' }, flags));
  }

  renderAges() {
    for (const td of this.tbody.querySelectorAll('td.age')) td.textContent = formatAgo(td.dataset.at);
  }

  /** Open an alarm beside the queue (null closes the panel). */
  select(id, { push = true } = {}) {
    if (push) history.pushState(null, '', this.hashFor(id));
    this.selected = id;
    for (const tr of this.tbody.children) tr.classList.toggle('selected', Number(tr.dataset.alarmId) === id);
    this.detail?.destroy();
    this.detail = null;
    this.side.hidden = !id;
    if (!id) return;
    this.detail = new AlarmDetail(this.side, id, { onClose: () => this.select(null) });
  }
}
