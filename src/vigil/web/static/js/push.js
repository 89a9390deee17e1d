// "Notify this device": Web Push for alarms. Registers the service worker, subscribes with the
// server's VAPID key and hands the subscription to the server. The worker lives under
// /static/ (its scope is /static/): it only shows notifications and opens alarms, it never
// needs to control the app's pages.

import { push as pushApi } from './api.js';
import { session } from './session.js';
import { h, toast } from './ui.js';

const WORKER = '/static/sw.js';

/** Why this browser cannot receive push messages, or null when it can. */
export function pushUnsupported() {
  if (!window.isSecureContext) return 'needs HTTPS (or localhost)';
  if (!('serviceWorker' in navigator)) return 'this browser has no service workers';
  if (!('PushManager' in window)) return 'this browser has no Web Push';
  if (!('Notification' in window)) return 'this browser cannot show notifications';
  return null;
}

/** The button for the alarms header; its data-state says where it stands. */
export function pushButton() {
  const button = h('button', { class: 'btn btn-small', dataset: { testid: 'push-button', state: 'idle' },
    title: 'Show a notification on this device for each alarm, even when Vigil is closed' }, 'Notify this device');
  const status = h('span', { class: 'push-status meta', dataset: { testid: 'push-status' } });
  const set = (state, message) => {
    button.dataset.state = state;
    status.textContent = message;
    status.title = message;
    status.classList.toggle('error-text', state === 'error' || state === 'unsupported');
  };
  button.addEventListener('click', async () => {
    button.disabled = true;
    set('working', 'Subscribing…');
    try {
      const endpoint = await subscribe();
      set('subscribed', 'This device gets alarm notifications');
      toast('This device will be notified of alarms', 'ok');
      button.title = endpoint;
    } catch (err) {
      set(err.unsupported ? 'unsupported' : 'error', `Notifications: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  });
  const why = pushUnsupported();
  if (why) set('unsupported', `Notifications unavailable: ${why}`);
  return h('span', { class: 'push-control' }, button, status);
}

class PushError extends Error {
  constructor(message, { unsupported = false } = {}) {
    super(message);
    this.unsupported = unsupported;
  }
}

/** Subscribe this browser; resolves to the endpoint. Rejects with a PushError saying why not. */
export async function subscribe() {
  const why = pushUnsupported();
  if (why) throw new PushError(why, { unsupported: true });
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') {
    throw new PushError(`permission ${permission === 'denied' ? 'refused' : 'not given'}; allow notifications for this site`);
  }
  const { public_key: key } = await pushApi.key();
  const registration = await navigator.serviceWorker.register(WORKER, { scope: '/static/' });
  await activated(registration);
  let subscription;
  try {
    subscription = await registration.pushManager.getSubscription() ??
      await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlBytes(key) });
  } catch (err) {
    // Browsers without a push service (headless, de-Googled builds) fail here.
    throw new PushError(`the browser's push service refused: ${err.message}`, { unsupported: err.name === 'NotSupportedError' });
  }
  const json = subscription.toJSON();
  await pushApi.subscribe({ endpoint: json.endpoint, keys: json.keys, label: deviceLabel() });
  return json.endpoint;
}

/** Wait until the registration has an active worker (`serviceWorker.ready` would wait for
 * one whose scope covers this page, which /static/ does not). */
function activated(registration) {
  if (registration.active) return Promise.resolve(registration.active);
  const worker = registration.installing ?? registration.waiting;
  if (!worker) return Promise.reject(new PushError('the service worker did not install'));
  return new Promise((resolve, reject) => {
    worker.addEventListener('statechange', () => {
      if (worker.state === 'activated') resolve(worker);
      else if (worker.state === 'redundant') reject(new PushError('the service worker failed to start'));
    });
  });
}

function deviceLabel() {
  const ua = navigator.userAgent;
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows'
    : /Mac OS/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : 'device';
  return session.me ? `${session.me.username} (${os})` : os;
}

function base64UrlBytes(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}
