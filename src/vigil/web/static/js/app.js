// The shell: header (navigation, camera summary, event connection, clock) and a hash router.
//   #/grid              live grid
//   #/cameras           camera list; #/cameras/new and #/cameras/{id}/edit open the form
//   #/camera/{id}       one camera: live, timeline, playback, export (?at=ISO: playing from then)
//   #/camera/{id}/analytics  zones, lines and behaviours of its analytics
//   #/alarms            alarm queue (?state=&priority=&category=&camera_id=); #/alarms/{id} opens one
//   #/alarms/stats      alarm statistics (?period=)
//   #/rules             rules, time profiles, camera groups; #/rules/new, #/rules/{id}/edit
//   #/search            forensic search (?since=&until=&camera_id=&type=&class_name=&zone=&colour=)
//   #/heatmap/{id}      where objects moved on a camera (?since=&until=&classes=)

import * as alarms from './alarms.js';
import * as analyticsEditor from './analytics-editor.js';
import * as cameraView from './camera-view.js';
import * as cameras from './cameras.js';
import * as grid from './grid.js';
import * as heatmap from './heatmap.js';
import * as rules from './rules.js';
import * as search from './search.js';
import { alarmRaised } from './sounds.js';
import * as stats from './stats.js';
import { alarmStore, store } from './store.js';
import { formatDateTime, h, replace, zoneLabel } from './ui.js';

const ROUTES = [
  { pattern: /^\/grid$/, nav: 'grid', mount: (root) => grid.mount(root) },
  { pattern: /^\/cameras$/, nav: 'cameras', mount: (root) => cameras.mount(root) },
  { pattern: /^\/cameras\/new$/, nav: 'cameras', mount: (root) => cameras.mount(root, { form: 'new' }) },
  { pattern: /^\/cameras\/(\d+)\/edit$/, nav: 'cameras', mount: (root, [id]) => cameras.mount(root, { form: id }) },
  { pattern: /^\/camera\/(\d+)$/, nav: 'grid', mount: (root, [id], params) => cameraView.mount(root, { id, at: params.get('at') }) },
  { pattern: /^\/camera\/(\d+)\/analytics$/, nav: 'cameras', mount: (root, [id]) => analyticsEditor.mount(root, { id }) },
  { pattern: /^\/alarms$/, nav: 'alarms', mount: (root, [], params) => alarms.mount(root, { params }) },
  { pattern: /^\/alarms\/stats$/, nav: 'alarms', mount: (root, [], params) => stats.mount(root, { params }) },
  { pattern: /^\/alarms\/(\d+)$/, nav: 'alarms', mount: (root, [id], params) => alarms.mount(root, { id, params }) },
  { pattern: /^\/rules$/, nav: 'rules', mount: (root) => rules.mount(root) },
  { pattern: /^\/rules\/new$/, nav: 'rules', mount: (root) => rules.mount(root, { form: 'new' }) },
  { pattern: /^\/rules\/(\d+)\/edit$/, nav: 'rules', mount: (root, [id]) => rules.mount(root, { form: id }) },
  { pattern: /^\/search$/, nav: 'search', mount: (root, [], params) => search.mount(root, { params }) },
  { pattern: /^\/heatmap(?:\/(\d+))?$/, nav: 'search', mount: (root, [id], params) => heatmap.mount(root, { id, params }) },
];

const view = document.getElementById('view');
let unmount = null;

function route() {
  const [path, queryString = ''] = (location.hash.replace(/^#/, '') || '/grid').split('?');
  const match = ROUTES.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m);
  unmount?.();
  unmount = null;
  document.title = 'Vigil';
  if (!match) {
    replace(view, h('div', { class: 'empty' }, 'Nothing here. ', h('a', { href: '#/grid' }, 'Back to the live grid')));
    return;
  }
  for (const link of document.querySelectorAll('[data-nav]')) {
    link.classList.toggle('active', link.dataset.nav === match.r.nav);
  }
  unmount = match.r.mount(view, match.m.slice(1), new URLSearchParams(queryString)) ?? null;
}

function renderHeader() {
  const list = store.cameras;
  const online = list.filter((c) => c.health.status === 'online').length;
  const problems = list.filter((c) => ['offline', 'storage_full'].includes(c.health.status)).length;
  const summary = document.getElementById('summary');
  summary.textContent = `${online}/${list.length} online`;
  summary.classList.toggle('warn', problems > 0);
  summary.title = problems ? `${problems} camera(s) offline or out of storage` : 'All enabled cameras online';
  const events = document.getElementById('events-status');
  events.dataset.connected = String(store.eventsConnected);
  events.title = store.eventsConnected ? 'Live status updates connected' : 'Live status updates disconnected: polling';
}

function renderAlarmBadge() {
  const badge = document.getElementById('alarm-badge');
  badge.textContent = String(alarmStore.open);
  badge.hidden = alarmStore.open === 0;
  badge.classList.toggle('fresh', alarmStore.fresh > 0);
  badge.dataset.open = String(alarmStore.open);
  badge.dataset.fresh = String(alarmStore.fresh);
  badge.title = `${alarmStore.open} open alarm(s), ${alarmStore.fresh} new`;
}

function tickClock() {
  const now = new Date();
  document.getElementById('clock').textContent = `${formatDateTime(now)} ${zoneLabel(now)}`;
}

store.addEventListener('change', renderHeader);
alarmStore.addEventListener('change', renderAlarmBadge);
alarmStore.addEventListener('alarm', ({ detail }) => {
  if (detail.change === 'raised') alarmRaised(detail.priority);
});
// A click on an alarm notification: the service worker asks this page to open the alarm.
navigator.serviceWorker?.addEventListener('message', (e) => {
  if (e.data?.type === 'vigil.open' && typeof e.data.url === 'string') location.href = e.data.url;
});
store.start();
alarmStore.start();
window.addEventListener('hashchange', route);
setInterval(tickClock, 1000);
tickClock();
route();
