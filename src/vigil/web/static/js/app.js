// The shell: header (navigation, camera summary, event connection, clock) and a hash router.
//   #/grid              live grid
//   #/cameras           camera list; #/cameras/new and #/cameras/{id}/edit open the form
//   #/camera/{id}       one camera: live, timeline, playback, export

import * as cameraView from './camera-view.js';
import * as cameras from './cameras.js';
import * as grid from './grid.js';
import { store } from './store.js';
import { formatDateTime, h, replace, zoneLabel } from './ui.js';

const ROUTES = [
  { pattern: /^\/grid$/, nav: 'grid', mount: (root) => grid.mount(root) },
  { pattern: /^\/cameras$/, nav: 'cameras', mount: (root) => cameras.mount(root) },
  { pattern: /^\/cameras\/new$/, nav: 'cameras', mount: (root) => cameras.mount(root, { form: 'new' }) },
  { pattern: /^\/cameras\/(\d+)\/edit$/, nav: 'cameras', mount: (root, [id]) => cameras.mount(root, { form: id }) },
  { pattern: /^\/camera\/(\d+)$/, nav: 'grid', mount: (root, [id]) => cameraView.mount(root, { id }) },
];

const view = document.getElementById('view');
let unmount = null;

function route() {
  const path = location.hash.replace(/^#/, '') || '/grid';
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
  unmount = match.r.mount(view, match.m.slice(1)) ?? null;
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

function tickClock() {
  const now = new Date();
  document.getElementById('clock').textContent = `${formatDateTime(now)} ${zoneLabel(now)}`;
}

store.addEventListener('change', renderHeader);
store.start();
window.addEventListener('hashchange', route);
setInterval(tickClock, 1000);
tickClock();
route();
