// The shell: sign-in, then the header (navigation, camera summary, event connection, clock,
// the user's menu) and a hash router.
//   #/grid              live grid
//   #/map               cameras on site plans and the street map (?view=street|plan-{id})
//   #/cameras           camera list; #/cameras/new and #/cameras/{id}/edit open the form
//   #/camera/{id}       one camera: live, timeline, playback, export (?at=ISO: playing from then)
//   #/camera/{id}/analytics  zones, lines and behaviours of its analytics
//   #/camera/{id}/privacy-masks  its privacy masks (manage)
//   #/alarms            alarm queue (?state=&priority=&category=&camera_id=); #/alarms/{id} opens one
//   #/alarms/stats      alarm statistics (?period=)
//   #/rules             rules, time profiles, camera groups; #/rules/new, #/rules/{id}/edit
//   #/search            forensic search (?since=&until=&camera_id=&type=&class_name=&zone=&colour=)
//   #/heatmap/{id}      where objects moved on a camera (?since=&until=&classes=)
//   #/admin/users       users; #/admin/roles roles; #/admin/tokens API tokens;
//   #/admin/nodes       recorder nodes; #/admin/sites federated sites (manage)
//   #/admin/registers   registers of vehicles: stolen, wanted, permits (manage)
//   #/audit             the audit trail (?username=&action=&camera_id=&since=&until=&outcome=&page=)
//   #/privacy           data-subject requests; #/privacy/new, #/privacy/{id} (manage)
//
// Nobody signed in: the sign-in screen replaces the application (first run: the setup of
// the first administrator). A 401 from any request (the session expired or was ended) or a
// live socket refused for that reason brings it back; the hash stays, so the same page opens
// after signing in again. Each route names the permissions (any of them) that open it; the
// navigation shows only those the user holds.

import * as admin from './admin.js';
import * as alarms from './alarms.js';
import * as analyticsEditor from './analytics-editor.js';
import { auth as authApi, authEvents } from './api.js';
import * as audit from './audit.js';
import * as cameraView from './camera-view.js';
import * as cameras from './cameras.js';
import * as grid from './grid.js';
import * as heatmap from './heatmap.js';
import * as mapView from './map.js';
import * as privacyEditor from './privacy-editor.js';
import * as rules from './rules.js';
import * as search from './search.js';
import { CAMERA_ACCESS, P, session } from './session.js';
import { signIn } from './signin.js';
import { alarmRaised } from './sounds.js';
import * as stats from './stats.js';
import * as subjectRequests from './subject-requests.js';
import { alarmStore, store } from './store.js';
import { formatDateTime, h, replace, zoneLabel } from './ui.js';
import { mountUserMenu } from './user-menu.js';

const VIEWING = [P.LIVE, P.PLAYBACK, P.EXPORT];
const RETRY_START_MS = 3000;

const ROUTES = [
  { pattern: /^\/grid$/, nav: 'grid', need: [P.LIVE], mount: (root) => grid.mount(root) },
  { pattern: /^\/map$/, nav: 'map', need: CAMERA_ACCESS, mount: (root, [], params) => mapView.mount(root, { params }) },
  { pattern: /^\/cameras$/, nav: 'cameras', need: CAMERA_ACCESS, mount: (root) => cameras.mount(root) },
  { pattern: /^\/cameras\/new$/, nav: 'cameras', need: [P.MANAGE], mount: (root) => cameras.mount(root, { form: 'new' }) },
  { pattern: /^\/cameras\/(\d+)\/edit$/, nav: 'cameras', need: [P.MANAGE], mount: (root, [id]) => cameras.mount(root, { form: id }) },
  { pattern: /^\/camera\/(\d+)$/, nav: 'grid', need: VIEWING, mount: (root, [id], params) => cameraView.mount(root, { id, at: params.get('at') }) },
  { pattern: /^\/camera\/(\d+)\/analytics$/, nav: 'cameras', need: [P.MANAGE], mount: (root, [id]) => analyticsEditor.mount(root, { id }) },
  { pattern: /^\/camera\/(\d+)\/privacy-masks$/, nav: 'cameras', need: [P.MANAGE], mount: (root, [id]) => privacyEditor.mount(root, { id }) },
  { pattern: /^\/alarms$/, nav: 'alarms', need: [P.ALARMS], mount: (root, [], params) => alarms.mount(root, { params }) },
  { pattern: /^\/alarms\/stats$/, nav: 'alarms', need: [P.ALARMS], mount: (root, [], params) => stats.mount(root, { params }) },
  { pattern: /^\/alarms\/(\d+)$/, nav: 'alarms', need: [P.ALARMS], mount: (root, [id], params) => alarms.mount(root, { id, params }) },
  { pattern: /^\/rules$/, nav: 'rules', need: [P.ALARMS, P.MANAGE], mount: (root) => rules.mount(root) },
  { pattern: /^\/rules\/new$/, nav: 'rules', need: [P.MANAGE], mount: (root) => rules.mount(root, { form: 'new' }) },
  { pattern: /^\/rules\/(\d+)\/edit$/, nav: 'rules', need: [P.MANAGE], mount: (root, [id]) => rules.mount(root, { form: id }) },
  { pattern: /^\/search$/, nav: 'search', need: [P.SEARCH], mount: (root, [], params) => search.mount(root, { params }) },
  { pattern: /^\/heatmap(?:\/(\d+))?$/, nav: 'search', need: [P.SEARCH], mount: (root, [id], params) => heatmap.mount(root, { id, params }) },
  { pattern: /^\/admin(?:\/(users|roles|tokens|nodes|sites|registers))?$/, nav: 'admin', need: [P.MANAGE], mount: (root, [tab]) => admin.mount(root, { tab: tab ?? 'users' }) },
  { pattern: /^\/audit$/, nav: 'audit', need: [P.AUDIT], mount: (root, [], params) => audit.mount(root, { params }) },
  { pattern: /^\/privacy(?:\/(new|\d+))?$/, nav: 'privacy', need: [P.MANAGE], mount: (root, [id], params) => subjectRequests.mount(root, { id, params }) },
];

const view = document.getElementById('view');
const gate = document.getElementById('signin');
let unmount = null;

/** The first page the user may open, as a hash (for "#/" and pages they may not open). */
function home() {
  const link = [...document.querySelectorAll('[data-nav]')].find((a) => !a.hidden);
  return link ? link.getAttribute('href') : null;
}

function route() {
  if (!session.signedIn) return; // the sign-in screen is up; the hash waits for it
  const [path, queryString = ''] = location.hash.replace(/^#/, '').split('?');
  if (!path || path === '/') {
    const start = home();
    if (start) {
      history.replaceState(null, '', start);
      route();
    } else {
      unmount?.();
      unmount = null;
      replace(view, h('div', { class: 'empty', dataset: { testid: 'no-permissions' } },
        'Your account holds no permission yet: an administrator gives you a role.'));
    }
    return;
  }
  const match = ROUTES.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m);
  unmount?.();
  unmount = null;
  document.title = 'Vigil';
  for (const link of document.querySelectorAll('[data-nav]')) {
    link.classList.toggle('active', link.dataset.nav === match?.r.nav);
  }
  const back = home();
  const backLink = back ? h('a', { href: back }, 'Back to your start page') : null;
  if (!match) {
    replace(view, h('div', { class: 'empty' }, 'Nothing here. ', backLink));
    return;
  }
  if (!session.can(...match.r.need)) {
    replace(view, h('div', { class: 'empty', dataset: { testid: 'forbidden' } },
      `Your account may not open this page (it needs the permission ${match.r.need.join(' or ')}). `, backLink));
    return;
  }
  unmount = match.r.mount(view, match.m.slice(1), new URLSearchParams(queryString)) ?? null;
}

/** Show the navigation entries the user's permissions open. */
function renderNav() {
  for (const link of document.querySelectorAll('[data-need]')) {
    link.hidden = !session.can(...link.dataset.need.split(' '));
  }
  document.querySelector('.brand').setAttribute('href', home() ?? '#/');
}

function renderHeader() {
  const list = store.cameras;
  const online = list.filter((c) => c.health.status === 'online').length;
  const problems = list.filter((c) => ['offline', 'storage_full'].includes(c.health.status)).length;
  const summary = document.getElementById('summary');
  summary.hidden = !session.can(...CAMERA_ACCESS);
  summary.textContent = `${online}/${list.length} online`;
  summary.classList.toggle('warn', problems > 0);
  summary.title = problems ? `${problems} camera(s) offline or out of storage` : 'All enabled cameras online';
  const events = document.getElementById('events-status');
  events.hidden = summary.hidden;
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

/** Someone is signed in: start what their permissions use and open the page of the hash. */
function enter(me) {
  session.set(me);
  document.body.dataset.auth = 'signed-in';
  gate.hidden = true;
  // Camera list for everyone (it is filtered by the server); pushed changes need camera access.
  store.start({ events: session.can(...CAMERA_ACCESS) });
  if (session.can(P.ALARMS)) alarmStore.start();
  renderAlarmBadge();
  route();
}

/** The session is over (expired, signed out, password changed): back to the sign-in form.
 * Many requests may fail at once: only the first finds someone signed in. */
async function leave(notice) {
  if (!session.signedIn) return;
  unmount?.();
  unmount = null;
  replace(view);
  store.stop();
  alarmStore.stop();
  session.set(null);
  document.body.dataset.auth = 'signed-out';
  gate.hidden = false;
  enter(await signIn(gate, { notice }));
}

async function start() {
  let status;
  try {
    status = await authApi.status();
  } catch (err) {
    document.body.dataset.auth = 'signed-out';
    gate.hidden = false;
    replace(gate, h('div', { class: 'signin-card' }, h('h1', {}, 'Vigil'),
      h('div', { class: 'banner error', dataset: { testid: 'start-error' } }, `The server cannot be reached: ${err.message}. Trying again…`)));
    setTimeout(start, RETRY_START_MS);
    return;
  }
  let me = null;
  if (!status.setup_required) {
    try {
      me = await authApi.me();
    } catch {
      // not signed in (or the session expired): the form below
    }
  }
  if (!me) {
    document.body.dataset.auth = 'signed-out';
    gate.hidden = false;
    me = await signIn(gate, { setupRequired: status.setup_required });
  }
  enter(me);
}

session.addEventListener('change', () => {
  renderNav();
  renderHeader();
  mountUserMenu(document.getElementById('user-menu'), { onSignOut: (notice) => leave(notice) });
});
authEvents.addEventListener('unauthorised', () => leave('Your session has ended: sign in again.'));
store.addEventListener('change', renderHeader);
alarmStore.addEventListener('change', renderAlarmBadge);
alarmStore.addEventListener('alarm', ({ detail }) => {
  if (detail.change === 'raised') alarmRaised(detail.priority);
});
// A click on an alarm notification: the service worker asks this page to open the alarm.
navigator.serviceWorker?.addEventListener('message', (e) => {
  if (e.data?.type === 'vigil.open' && typeof e.data.url === 'string') location.href = e.data.url;
});
window.addEventListener('hashchange', route);
setInterval(tickClock, 1000);
tickClock();
start();
