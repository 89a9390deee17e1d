// Alarm statistics (#/alarms/stats?period=7d): totals, alarms per category, area (the camera's
// location) and priority as bars, and response times (acknowledge median / p90, close median).

import { PRIORITIES } from './alarm-format.js';
import { alarms as alarmsApi } from './api.js';
import { alarmStore } from './store.js';
import { formatDuration, h, replace } from './ui.js';

const PERIODS = [
  { key: '24h', label: '24 hours', seconds: 86400 },
  { key: '7d', label: '7 days', seconds: 7 * 86400 },
  { key: '30d', label: '30 days', seconds: 30 * 86400 },
  { key: '365d', label: '1 year', seconds: 365 * 86400 },
  { key: 'all', label: 'All time', seconds: null },
];
const REFRESH_DEBOUNCE_MS = 1000;

export function mount(root, { params = new URLSearchParams() } = {}) {
  const view = new StatsView(root, params.get('period'));
  return () => view.destroy();
}

class StatsView {
  constructor(root, period) {
    this.period = PERIODS.some((p) => p.key === period) ? period : '7d';
    this.body = h('div', { class: 'stats-body', dataset: { testid: 'stats-body' } });
    this.error = h('div', { class: 'banner error', hidden: true, dataset: { testid: 'stats-error' } });
    this.buttons = PERIODS.map((p) => h('button', { class: 'btn btn-small', dataset: { testid: `period-${p.key}`, period: p.key },
      onclick: () => this.setPeriod(p.key) }, p.label));
    replace(root, h('div', { class: 'stats-view', dataset: { testid: 'stats-view' } },
      h('div', { class: 'view-header' },
        h('a', { href: '#/alarms', class: 'btn btn-small' }, '← Alarms'),
        h('h1', {}, 'Alarm statistics'), h('span', { class: 'spacer' }),
        h('div', { class: 'btn-group', dataset: { testid: 'period' } }, this.buttons)),
      this.error, this.body));
    this.onAlarm = () => {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.load(), REFRESH_DEBOUNCE_MS);
    };
    alarmStore.addEventListener('alarm', this.onAlarm);
    this.setPeriod(this.period, { replaceUrl: false });
  }

  destroy() {
    clearTimeout(this.debounce);
    this.abort?.abort();
    alarmStore.removeEventListener('alarm', this.onAlarm);
  }

  setPeriod(key, { replaceUrl = true } = {}) {
    this.period = key;
    for (const b of this.buttons) b.classList.toggle('active', b.dataset.period === key);
    if (replaceUrl) history.replaceState(null, '', `#/alarms/stats?period=${key}`);
    this.load();
  }

  async load() {
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    const { seconds } = PERIODS.find((p) => p.key === this.period);
    const since = seconds ? new Date(Date.now() - seconds * 1000) : null;
    try {
      const stats = await alarmsApi.stats({ since }, { signal: abort.signal });
      this.error.hidden = true;
      this.render(stats);
    } catch (err) {
      if (err.name === 'AbortError') return;
      this.error.hidden = false;
      this.error.textContent = `Statistics not loaded: ${err.message}`;
    }
  }

  render(s) {
    const r = s.response ?? {};
    const time = (v) => (v === null || v === undefined ? '—' : formatDuration(v));
    replace(this.body,
      h('div', { class: 'stat-cards' },
        card('Alarms', s.total, 'stats-total'),
        card('Open now', s.open, 'stats-open'),
        card('Acknowledged', r.acknowledged ?? 0, 'stats-acknowledged'),
        card('To acknowledge (median)', time(r.acknowledge_median_s), 'stats-ack-median'),
        card('To acknowledge (90 %)', time(r.acknowledge_p90_s), 'stats-ack-p90'),
        card('To close (median)', time(r.close_median_s), 'stats-close-median')),
      h('div', { class: 'stat-charts' },
        bars('By category', 'stats-by-category', s.by_category),
        bars('By area', 'stats-by-area', s.by_area),
        bars('By priority', 'stats-by-priority', [...s.by_priority].sort((a, b) => Number(a.key) - Number(b.key)),
          (k) => `P${k} ${PRIORITIES[k] ?? ''}`, (k) => `prio-bar-${k}`)));
  }
}

function card(label, value, testid) {
  return h('div', { class: 'stat-card' },
    h('div', { class: 'stat-value', dataset: { testid } }, String(value ?? 0)),
    h('div', { class: 'stat-label' }, label));
}

function bars(title, testid, rows = [], label = (k) => k, cls = () => '') {
  const max = Math.max(1, ...rows.map((r) => r.count));
  return h('section', { class: 'stat-chart', dataset: { testid } }, h('h2', {}, title),
    rows.length ? rows.map((r) => h('div', { class: 'bar-row', dataset: { testid: 'stat-row', key: r.key, count: r.count } },
      h('span', { class: 'bar-label', title: String(r.key) }, label(r.key)),
      h('span', { class: 'bar-track' }, h('span', { class: `bar ${cls(r.key)}`, style: { width: `${(r.count / max) * 100}%` } })),
      h('span', { class: 'bar-count num' }, String(r.count))))
      : h('div', { class: 'meta' }, 'No alarms in this period.'));
}
