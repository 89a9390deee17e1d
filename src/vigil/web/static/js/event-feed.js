// The live event feed: analytics events (line crossings, intrusions, loitering...) newest
// first, with their snapshot, from the stored history (GET /api/events) and then live from
// the shared /api/events socket (store.js re-emits each "event"). Optionally for one camera.
// Clicking an event opens that camera's recording at the event's moment.

import { events as eventsApi, linkedSitesReady } from './api.js';
import { siteBadge } from './site-badge.js';
import { store } from './store.js';
import { formatClock, formatDateTime, formatDay, h, replace } from './ui.js';

const MAX_ITEMS = 100;
const SNAPSHOT_RETRY_MS = 1000; // a live event can reach us before its row is stored
export const EVENT_LABELS = {
  line_crossing: 'Line crossing',
  intrusion: 'Intrusion',
  loitering: 'Loitering',
  running: 'Running',
  crowding: 'Crowding',
  occupancy: 'Occupancy',
  left_object: 'Left object',
  illegal_dumping: 'Illegal dumping',
  parked_vehicle: 'Parked vehicle',
};

/**
 * Whether an event belongs in the feed: what the analytics saw on a camera. Types of other
 * sources are dotted (camera.offline, input.mqtt, access.door_forced); occupancy samples are a
 * count over time, not something to look at one by one.
 */
export function isAnalyticsEvent(e) {
  return e.camera_id != null && !e.type.includes('.') && e.type !== 'manual' && e.type !== 'occupancy';
}

/** Where an event's recording plays: its camera's view at its moment. */
export function eventHref(e) {
  return `#/camera/${e.camera_id}?at=${encodeURIComponent(e.at)}`;
}

export class EventFeed {
  /** `cameraId`: only that camera's events; `onOpen(event)`: instead of going to its camera. */
  constructor({ cameraId = null, onOpen = null } = {}) {
    this.cameraId = cameraId;
    this.onOpen = onOpen;
    this.items = new Map(); // event id -> event, newest first when listed
    this.connected = store.eventsConnected;
    this.list = h('ol', { class: 'event-list', dataset: { testid: 'event-list' } });
    this.note = h('div', { class: 'meta event-note', dataset: { testid: 'event-feed-note' } }, 'Loading…');
    this.el = h('section', { class: 'event-feed', dataset: { testid: 'event-feed', cameraId: cameraId ?? '' } },
      h('h2', {}, cameraId ? 'Events of this camera' : 'Events'), this.note, this.list);
    this.onEvent = ({ detail }) => this.add(detail, true);
    this.namesKnown = store.loaded;
    this.onStore = () => {
      // Back after a disconnection: what was missed is in the history.
      if (store.eventsConnected && !this.connected) this.load();
      this.connected = store.eventsConnected;
      if (store.loaded && !this.namesKnown) {
        this.namesKnown = true; // rows made before the camera list came say "Camera 3"
        this.list.replaceChildren();
        this.render();
      }
    };
    store.addEventListener('event', this.onEvent);
    store.addEventListener('change', this.onStore);
    this.load();
  }

  destroy() {
    store.removeEventListener('event', this.onEvent);
    store.removeEventListener('change', this.onStore);
  }

  async load() {
    try {
      const [list] = await Promise.all([eventsApi.list({ camera_id: this.cameraId, limit: MAX_ITEMS }), linkedSitesReady()]);
      for (const e of list) this.add(e, false);
      this.render();
    } catch (err) {
      this.note.textContent = `Events could not be loaded: ${err.message}`;
      this.note.classList.add('error-text');
    }
  }

  add(e, live) {
    if (!isAnalyticsEvent(e)) return;
    if (this.cameraId != null && e.camera_id !== this.cameraId) return;
    if (this.items.has(e.id)) return;
    this.items.set(e.id, { ...e, fresh: live });
    if (live) this.render();
  }

  render() {
    const sorted = [...this.items.values()].sort((a, b) => timeKey(b.at) - timeKey(a.at)).slice(0, MAX_ITEMS);
    this.items = new Map(sorted.map((e) => [e.id, e]));
    this.note.classList.remove('error-text');
    this.note.textContent = sorted.length ? '' : 'No analytics events yet. They appear here as they happen.';
    this.note.hidden = sorted.length > 0;
    const existing = new Map([...this.list.children].map((li) => [li.dataset.eventId, li]));
    const rows = sorted.map((e) => existing.get(e.id) ?? this.row(e));
    replace(this.list, rows);
  }

  row(e) {
    const camera = store.get(e.camera_id);
    const today = formatDay(new Date()) === formatDay(e.at);
    const details = describe(e);
    const thumb = snapshotOf(e)
      ? h('img', { class: 'event-thumb', alt: '', loading: 'lazy', src: snapshotOf(e), dataset: { testid: 'event-thumb' } })
      : h('span', { class: 'event-thumb event-thumb-none', 'aria-hidden': 'true' });
    if (thumb.tagName === 'IMG') {
      thumb.addEventListener('error', () => {
        if (thumb.dataset.retried) {
          thumb.replaceWith(h('span', { class: 'event-thumb event-thumb-none', title: 'snapshot not available' }));
        } else {
          thumb.dataset.retried = '1';
          setTimeout(() => { thumb.src = `${snapshotOf(e)}?retry=1`; }, SNAPSHOT_RETRY_MS);
        }
      });
    }
    const open = (ev) => {
      ev.preventDefault();
      if (this.onOpen) this.onOpen(e);
      else location.hash = eventHref(e);
    };
    const li = h('li', { class: `event-item${e.fresh ? ' fresh' : ''}`,
      dataset: { testid: 'event-item', eventId: e.id, type: e.type, cameraId: e.camera_id, at: e.at } },
    h('a', { href: eventHref(e), class: 'event-link', title: 'Play the recording at this moment', onclick: open },
      thumb,
      h('span', { class: 'event-text' },
        h('span', { class: 'event-head' },
          h('span', { class: `event-type type-${e.type}`, dataset: { testid: 'event-type' } }, EVENT_LABELS[e.type] ?? e.type),
          h('time', { class: 'event-time', datetime: e.at, title: formatDateTime(e.at, { ms: true }) },
            today ? formatClock(e.at, { seconds: true }) : formatDateTime(e.at))),
        h('span', { class: 'event-where', dataset: { testid: 'event-where' } },
          this.cameraId == null ? (camera?.name ?? `Camera ${e.camera_id}`) : null,
          siteBadge(e),
          e.zone ? h('span', { class: 'event-zone' }, e.zone) : null),
        details ? h('span', { class: 'event-detail meta', dataset: { testid: 'event-detail' } }, details) : null)));
    return li;
  }
}

/** Microseconds since the epoch: events of one analysed frame differ by less than a millisecond. */
function timeKey(at) {
  const micro = /\.\d{3}(\d{1,3})/.exec(at)?.[1] ?? '0';
  return new Date(at).getTime() * 1000 + Number(micro.padEnd(3, '0'));
}

function snapshotOf(e) {
  if (e.snapshot_url) return e.snapshot_url;
  return e.snapshot ? `/api/events/${e.id}/snapshot` : null; // a live event carries the path
}

/** Object and what is particular to the type, in a few words. */
function describe(e) {
  const a = e.attributes ?? {};
  const parts = [];
  if (e.object) {
    parts.push(`${e.object.colour ? `${e.object.colour} ` : ''}${e.object.class_name}` +
      `${e.object.track_id != null ? ` #${e.object.track_id}` : ''}`);
  }
  if (a.direction) parts.push(a.direction);
  if (e.count != null) parts.push(`${e.count} objects`);
  const seconds = a.dwell_s ?? a.still_s ?? a.stopped_s;
  if (typeof seconds === 'number') parts.push(`${Math.round(seconds)} s`);
  if (typeof a.speed_heights_per_s === 'number') parts.push(`${a.speed_heights_per_s.toFixed(1)} heights/s`);
  return parts.join(' · ');
}
