// Camera state shared by all views: the camera list polled every few seconds, and status
// changes pushed by the server on /api/events in between (so a camera going offline shows
// at once). Views subscribe and re-render from `store.cameras`.
// The same WebSocket carries alarm changes: `alarmStore` keeps the open/new counts for the
// header and re-emits each change for the alarm views.
// It also carries events (analytics and others): re-emitted as "event" on `store` for the
// live event feed.
// Both run while someone is signed in: the shell starts them after sign-in and stops them
// when the session ends.

import { alarms as alarmsApi, cameras as camerasApi, eventsUrl, socketClosed } from './api.js';

const POLL_MS = 3000;
const EVENTS_RETRY_MIN_MS = 1000;
const EVENTS_RETRY_MAX_MS = 15000;

export class CameraStore extends EventTarget {
  constructor() {
    super();
    /** @type {Map<number, object>} camera id -> CameraPublic */
    this.byId = new Map();
    this.loaded = false;
    this.error = null; // message of the last failed poll, null when fine
    this.eventsConnected = false;
    this._pollTimer = null;
    this._ws = null;
    this._eventsRetry = EVENTS_RETRY_MIN_MS;
    this._stopped = true;
  }

  /** Cameras sorted by name. */
  get cameras() {
    return [...this.byId.values()].sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
  }

  get(id) {
    return this.byId.get(Number(id)) ?? null;
  }

  /** Poll the list and, with `events`, follow the server's pushed changes. */
  start({ events = true } = {}) {
    this._stopped = false;
    this.refresh();
    if (events) this._connectEvents();
  }

  /** Stop, and forget the cameras (the next user may see others). */
  stop() {
    this._stopped = true;
    clearTimeout(this._pollTimer);
    const ws = this._ws;
    this._ws = null;
    ws?.close();
    this.byId = new Map();
    this.loaded = false;
    this.eventsConnected = false;
  }

  /** Fetch the list now (and re-arm the poll timer). */
  async refresh() {
    clearTimeout(this._pollTimer);
    try {
      const list = await camerasApi.list();
      if (this._stopped) return; // signed out meanwhile
      this.byId = new Map(list.map((c) => [c.id, c]));
      this.loaded = true;
      this.error = null;
    } catch (err) {
      this.error = err.message;
    }
    this._changed();
    if (!this._stopped) this._pollTimer = setTimeout(() => this.refresh(), POLL_MS);
  }

  /** Put one camera as the API returned it (after an edit) without waiting for the poll. */
  put(camera) {
    this.byId.set(camera.id, camera);
    this._changed();
  }

  delete(id) {
    this.byId.delete(Number(id));
    this._changed();
  }

  _changed() {
    this.dispatchEvent(new Event('change'));
  }

  _connectEvents() {
    if (this._stopped) return;
    const ws = new WebSocket(eventsUrl(['cameras', 'alarms', 'events']));
    this._ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this._eventsRetry = EVENTS_RETRY_MIN_MS;
      this.eventsConnected = true;
      this._changed();
      alarmStore.resync(); // changes made while disconnected were not pushed
    };
    ws.onmessage = (msg) => {
      let envelope;
      try {
        envelope = JSON.parse(msg.data);
      } catch {
        return;
      }
      if (envelope.kind === 'camera.status') this._applyStatus(envelope.payload);
      else if (envelope.kind === 'alarm.changed') alarmStore.apply(envelope.payload);
      else if (envelope.kind === 'event') this.dispatchEvent(new CustomEvent('event', { detail: envelope.payload }));
    };
    ws.onclose = (event) => {
      if (ws !== this._ws) return; // stopped, or replaced
      this.eventsConnected = false;
      this._changed();
      if (this._stopped) return;
      socketClosed(event, opened);
      setTimeout(() => this._connectEvents(), this._eventsRetry);
      this._eventsRetry = Math.min(this._eventsRetry * 2, EVENTS_RETRY_MAX_MS);
    };
  }

  _applyStatus({ camera_id: id, status, error, node, at }) {
    const camera = this.byId.get(id);
    if (!camera) {
      this.refresh(); // a camera we have not seen yet
      return;
    }
    const health = { ...camera.health, status: camera.enabled ? status : 'disabled', node };
    if (status === 'online') health.last_error = health.problem = null; // the next poll words a new one
    if (error) health.last_error = error;
    health.updated_at = at;
    this.byId.set(id, { ...camera, health });
    this._changed();
    this.dispatchEvent(new CustomEvent('status', { detail: { id, status, error } }));
  }
}

const ALARM_POLL_MS = 15000; // a fallback: the WebSocket pushes every change
const ALARM_COUNT_DEBOUNCE_MS = 250;

/**
 * Alarm counts for the header (open, new) and a relay of alarm changes. Events:
 * "change" (counts changed), "alarm" (detail: an AlarmChanged payload), "resync" (changes
 * may have been missed: views refetch).
 */
export class AlarmStore extends EventTarget {
  constructor() {
    super();
    this.open = 0;
    this.fresh = 0; // alarms in state "new"
    this.loaded = false;
    this._timer = null;
    this._debounce = null;
    this._stopped = true;
  }

  start() {
    this._stopped = false;
    this.refresh();
  }

  stop() {
    this._stopped = true;
    clearTimeout(this._timer);
    clearTimeout(this._debounce);
    this.open = this.fresh = 0;
    this.loaded = false;
  }

  /** Recount now (and re-arm the poll timer). */
  async refresh() {
    clearTimeout(this._timer);
    try {
      const [open, fresh] = await Promise.all([
        alarmsApi.list({ state: 'open', limit: 1 }),
        alarmsApi.list({ state: 'new', limit: 1 }),
      ]);
      if (this._stopped) return;
      this.open = open.total;
      this.fresh = fresh.total;
      this.loaded = true;
      this.dispatchEvent(new Event('change'));
    } catch {
      // the alarm API is missing or down: the badge stays as it was
    }
    if (!this._stopped) this._timer = setTimeout(() => this.refresh(), ALARM_POLL_MS);
  }

  /** An alarm.changed message from the server. */
  apply(payload) {
    this.dispatchEvent(new CustomEvent('alarm', { detail: payload }));
    clearTimeout(this._debounce);
    this._debounce = setTimeout(() => this.refresh(), ALARM_COUNT_DEBOUNCE_MS);
  }

  resync() {
    this.dispatchEvent(new Event('resync'));
    if (this.loaded) this.refresh();
  }
}

export const alarmStore = new AlarmStore();
export const store = new CameraStore();
