// One camera: live view, the recording timeline, playback from any moment in the same
// video area (with the wall-clock time of the frame shown), and export of a span as MP4.
// `#/camera/{id}?at=ISO` opens it playing the recording from that moment (events, search).
// Analytics: boxes over the live view (a toggle) and the camera's live event feed.
// Live, playback, export and the links to configuration show as the user's permissions allow.

import { cameras as camerasApi, errorOf, exportUrl, linkedSitesReady, playbackUrl, request } from './api.js';
import { EventFeed } from './event-feed.js';
import { LivePlayer } from './live-player.js';
import { AnalyticsOverlay } from './overlay.js';
import { PlaybackPlayer } from './playback-player.js';
import { P, session } from './session.js';
import { store } from './store.js';
import { Timeline } from './timeline.js';
import {
  formatBytes, formatDateTime, formatDuration, formatFps, formatKbps, formatResolution,
  fromLocalInput, h, problemNote, replace, showOverlay, statusBadge, toLocalInput, toast,
} from './ui.js';

const ZOOMS = [
  { key: '15m', label: '15 min', seconds: 900 },
  { key: '1h', label: '1 h', seconds: 3600 },
  { key: '6h', label: '6 h', seconds: 6 * 3600 },
  { key: '24h', label: '24 h', seconds: 24 * 3600 },
];
const FUTURE_MARGIN = 0.03; // share of the window right of "now"
const TIMELINE_REFRESH_MS = 4000;
const CLOCK_MS = 200;
const LIVE_SNAP_S = 3; // a click this close to now goes live
const DEFAULT_EXPORT_S = 300;
const MAX_EXPORT_S = 24 * 3600;
const MAX_REDACTED_EXPORT_S = 15 * 60; // the server's MAX_REDACTED_EXPORT

/** `at`: an ISO time to play the recording from, instead of live. */
export function mount(root, { id, at = null }) {
  const cameraId = Number(id);
  const start = at ? new Date(at) : null;
  const view = new CameraView(root, cameraId, start && !Number.isNaN(start.getTime()) ? start : null);
  return () => view.destroy();
}

class CameraView {
  constructor(root, cameraId, start = null) {
    this.id = cameraId;
    this.mode = 'live';
    this.zoom = localStorage.getItem('vigil.zoom') || '1h';
    this.timers = [];
    this.timelineAbort = null;
    this.recording = false;
    this.mayLive = session.can(P.LIVE);
    this.mayPlay = session.can(P.PLAYBACK);
    const manage = session.can(P.MANAGE);

    this.video = h('video', { muted: true, playsInline: true, dataset: { testid: 'camera-video' } });
    this.overlay = h('div', { class: 'video-overlay', dataset: { testid: 'video-overlay' }, hidden: true });
    this.modeBadge = h('span', { class: 'mode-badge', dataset: { testid: 'mode' } });
    this.clock = h('span', { class: 'video-clock', dataset: { testid: 'video-clock' } });
    this.liveButton = h('button', { class: 'btn', dataset: { testid: 'live-button' },
      title: 'Back to live view', onclick: () => this.goLive() }, '● Live');
    this.pauseButton = h('button', { class: 'btn', dataset: { testid: 'pause-button' },
      onclick: () => this.togglePause() }, 'Pause');
    this.speed = h('select', { class: 'input input-small', dataset: { testid: 'speed' }, title: 'Playback speed',
      onchange: () => this.applySpeed() },
      ['0.5', '1', '2', '4', '8'].map((v) => h('option', { value: v, selected: v === '1' }, `${v}×`)));
    this.boxesButton = h('button', { class: 'btn', dataset: { testid: 'overlay-toggle' },
      title: 'Show what the analytics detects over the live view', onclick: () => this.toggleBoxes() }, 'Boxes');
    this.gotoInput = h('input', { type: 'datetime-local', step: '1', class: 'input', dataset: { testid: 'goto-time' } });
    this.zoomButtons = ZOOMS.map((z) => h('button', {
      class: 'btn btn-small', dataset: { testid: `zoom-${z.key}`, zoom: z.key },
      onclick: () => this.setZoom(z.key),
    }, z.label));
    this.recIndicator = h('span', { class: 'rec-indicator', dataset: { testid: 'recording' } });
    this.timelineBox = h('div', { class: 'timeline-box' });

    this.exportStart = h('input', { type: 'datetime-local', step: '1', class: 'input', id: 'export-start',
      dataset: { testid: 'export-start' }, oninput: () => this.exportChanged() });
    this.exportEnd = h('input', { type: 'datetime-local', step: '1', class: 'input', id: 'export-end',
      dataset: { testid: 'export-end' }, oninput: () => this.exportChanged() });
    this.exportInfo = h('div', { class: 'hint', dataset: { testid: 'export-info' } });
    this.exportRedact = h('input', { type: 'checkbox', id: 'export-redact', dataset: { testid: 'export-redact' },
      onchange: () => this.exportChanged() });
    this.exportButton = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { testid: 'export-button' } }, 'Export MP4');
    this.exportStatus = h('div', { class: 'export-status', dataset: { testid: 'export-status' } });

    this.feed = new EventFeed({ cameraId, onOpen: (e) => this.seek(new Date(e.at)) });
    this.title = h('h1', {}, `Camera ${cameraId}`);
    this.headerBadge = h('span');
    this.headerMeta = h('span', { class: 'meta' });
    this.details = h('dl', { class: 'details', dataset: { testid: 'camera-details' } });

    replace(root, h('div', { class: 'camera-view', dataset: { testid: 'camera-view', cameraId } },
      h('div', { class: 'view-header' },
        h('a', { href: '#/grid', class: 'btn btn-small' }, '← Grid'),
        this.title, this.headerBadge, this.headerMeta,
        h('span', { class: 'spacer' }),
        manage ? [
          h('a', { href: `#/camera/${cameraId}/analytics`, class: 'btn btn-small', dataset: { testid: 'analytics-link' } }, 'Analytics'),
          h('a', { href: `#/camera/${cameraId}/privacy-masks`, class: 'btn btn-small', dataset: { testid: 'privacy-masks-link' } }, 'Privacy masks'),
          h('a', { href: `#/cameras/${cameraId}/edit`, class: 'btn btn-small' }, 'Edit camera'),
        ] : null),
      h('div', { class: 'camera-body' },
        h('section', { class: 'camera-main' },
          this.stage = h('div', { class: 'stage' }, this.video, this.overlay,
            h('div', { class: 'stage-top' }, this.modeBadge, this.clock)),
          h('div', { class: 'controls' },
            this.liveButton, this.pauseButton, this.speed, this.boxesButton,
            h('span', { class: 'spacer' }),
            h('label', { class: 'inline-label' }, 'Go to', this.gotoInput),
            h('button', { class: 'btn', dataset: { testid: 'goto-button' }, onclick: () => this.gotoTyped() }, 'Play')),
          h('div', { class: 'timeline-panel' },
            h('div', { class: 'timeline-toolbar' },
              h('span', { class: 'btn-group' }, this.zoomButtons),
              this.recIndicator,
              h('span', { class: 'spacer' }),
              h('span', { class: 'legend' },
                h('i', { class: 'swatch swatch-range' }), 'recorded',
                h('i', { class: 'swatch swatch-gap' }), 'gap',
                h('i', { class: 'swatch swatch-selection' }), 'selection'),
              h('span', { class: 'hint' }, 'click: play from there · drag: select for export')),
            this.timelineBox)),
        h('aside', { class: 'camera-side' },
          h('section', { class: 'panel' }, h('h2', {}, 'Details'), this.details),
          h('form', { class: 'panel export-form', dataset: { testid: 'export-form' }, hidden: !session.can(P.EXPORT),
            onsubmit: (e) => { e.preventDefault(); this.doExport(); } },
            h('h2', {}, 'Export'),
            h('label', { for: 'export-start' }, 'Start'), this.exportStart,
            h('label', { for: 'export-end' }, 'End'), this.exportEnd,
            h('label', { for: 'export-redact', class: 'inline-label',
              title: 'Re-encodes the video with every face and licence plate blurred (for publication or a data-subject request); takes a few times the video\'s length' },
            this.exportRedact, 'Blur faces and plates'),
            this.exportInfo,
            h('div', { class: 'form-actions' },
              h('button', { type: 'button', class: 'btn btn-small', onclick: () => this.setExport(lastMinutes()) }, 'Last 5 min'),
              this.exportButton),
            this.exportStatus),
          this.feed.el))));

    this.timeline = new Timeline(this.timelineBox, {
      onSeek: (t) => this.seek(t),
      onSelect: (a, b) => this.select(a, b),
    });
    this.live = new LivePlayer(this.video, { cameraId, overlay: this.overlay });
    this.playback = new PlaybackPlayer(this.video, { overlay: this.overlay });
    this.playback.addEventListener('state', () => this.updateControls());
    this.boxes = new AnalyticsOverlay(this.stage, this.video, { cameraId, health: () => store.get(cameraId)?.health });
    this.setBoxes(localStorage.getItem('vigil.boxes') === 'on');
    this.liveButton.hidden = this.boxesButton.hidden = !this.mayLive;
    for (const el of [this.pauseButton, this.speed, this.gotoInput.parentElement]) el.hidden = !this.mayPlay;
    this.gotoInput.parentElement.nextElementSibling.hidden = !this.mayPlay;

    this.onStore = () => this.renderCamera();
    store.addEventListener('change', this.onStore);
    this.renderCamera();
    this.setExport(lastMinutes());
    this.setZoom(this.zoom);
    // A linked site's camera plays through this server's relay: its sites are known first.
    linkedSitesReady().then(() => {
      if (this.destroyed) return;
      if (start) this.playAt(start);
      else this.goLive();
    });
    this.timers.push(setInterval(() => this.loadTimeline(), TIMELINE_REFRESH_MS));
    this.timers.push(setInterval(() => this.tick(), CLOCK_MS));
    this.timers.push(setInterval(() => this.moveWindow(), 1000));
  }

  destroy() {
    this.timers.forEach(clearInterval);
    store.removeEventListener('change', this.onStore);
    this.timelineAbort?.abort();
    this.live.stop();
    this.playback.stop();
    this.destroyed = true;
    this.timeline.destroy();
    this.boxes.destroy();
    this.feed.destroy();
  }

  // Camera details ---------------------------------------------------------------------
  renderCamera() {
    const c = store.get(this.id);
    if (!c) {
      if (store.loaded) this.title.textContent = `Camera ${this.id} (not found)`;
      return;
    }
    this.title.textContent = c.name;
    this.live.setHealth(c.health);
    document.title = `${c.name} · Vigil`;
    replace(this.headerBadge, statusBadge(c.health.status));
    this.headerMeta.textContent = [
      formatResolution(c.health), `${formatFps(c.health.fps)} fps`, `${formatKbps(c.health.bitrate_bps)} kbit/s`,
    ].join(' · ');
    const row = (k, v, testid) => [h('dt', {}, k), h('dd', { dataset: testid ? { testid } : {} }, v ?? '—')];
    replace(this.details,
      row('Location', c.location),
      row('Stream', h('code', {}, c.main_url)),
      row('Codec', c.health.video_codec),
      row('Recorder', c.health.node),
      row('Last frame', formatDateTime(c.health.last_frame_at)),
      row('Last error', c.health.last_error, 'last-error'),
      c.health.problem ? row('Problem', problemNote(c.health)) : null,
      row('Retention', c.retention_days ? `${c.retention_days} days` : 'storage default'));
  }

  // Live and playback ------------------------------------------------------------------
  goLive() {
    if (!this.mayLive) {
      this.mode = 'none';
      this.playback.stop();
      showOverlay(this.overlay, 'ended', this.mayPlay
        ? 'Your account has no live view: click the timeline to play the recording'
        : 'Your account has no live view of this camera');
      this.updateControls();
      return;
    }
    this.mode = 'live';
    this.playback.stop();
    this.video.defaultPlaybackRate = 1;
    this.live.start();
    this.timeline.setCursor(null);
    this.updateControls();
  }

  /** The camera as the store has it ({ id, site }: a linked site's is played through the
   * relay), or its id before the list arrives. */
  get camera() {
    return store.get(this.id) ?? this.id;
  }

  /** Play the recording from `date` (a Date) in the video area. */
  playAt(date) {
    if (!this.mayPlay) {
      toast('Your account may not play recordings', 'error');
      return;
    }
    this.mode = 'playback';
    this.live.stop();
    this.playback.ranges = this.timeline.ranges;
    this.applySpeed();
    this.playback.play(playbackUrl(this.camera, date), date);
    this.gotoInput.value = toLocalInput(date);
    this.timeline.setCursor(date);
    this.clock.textContent = '…';
    this.clock.dataset.time = '';
    this.updateControls();
  }

  seek(date) {
    if (Date.now() - date.getTime() < LIVE_SNAP_S * 1000) this.goLive();
    else this.playAt(date);
  }

  gotoTyped() {
    const date = fromLocalInput(this.gotoInput.value);
    if (date) this.seek(date);
    else toast('Enter a date and time to play from', 'error');
  }

  applySpeed() {
    if (this.mode !== 'playback') return;
    // The default rate survives the reload of the <video> when playback starts.
    this.video.defaultPlaybackRate = this.video.playbackRate = Number(this.speed.value);
  }

  togglePause() {
    if (this.mode !== 'playback') return;
    if (this.video.paused) this.video.play().catch(() => {});
    else this.video.pause();
    this.updateControls();
  }

  toggleBoxes() {
    this.setBoxes(!this.boxes.enabled);
    localStorage.setItem('vigil.boxes', this.boxes.enabled ? 'on' : 'off');
  }

  setBoxes(on) {
    this.boxes.setEnabled(on);
    this.boxesButton.classList.toggle('active', on);
    this.boxesButton.setAttribute('aria-pressed', String(on));
  }

  updateControls() {
    const live = this.mode === 'live';
    this.boxes?.setVisible(live);
    this.liveButton.classList.toggle('active', live);
    this.pauseButton.disabled = live;
    this.speed.disabled = live;
    this.pauseButton.textContent = !live && this.video.paused ? 'Play' : 'Pause';
    this.modeBadge.textContent = live ? 'LIVE' : this.mode === 'playback' ? 'PLAYBACK' : '';
    this.modeBadge.dataset.mode = this.mode;
  }

  tick() {
    if (this.mode !== 'playback') {
      this.clock.textContent = formatDateTime(new Date());
      this.clock.dataset.time = '';
    } else {
      const wall = this.playback.wallTime();
      this.clock.textContent = wall ? formatDateTime(wall) : '…';
      this.clock.dataset.time = wall ? wall.toISOString() : '';
      if (wall) this.timeline.setCursor(wall);
      this.pauseButton.textContent = this.video.paused ? 'Play' : 'Pause';
    }
  }

  // Timeline ---------------------------------------------------------------------------
  setZoom(key) {
    this.zoom = ZOOMS.some((z) => z.key === key) ? key : '1h';
    localStorage.setItem('vigil.zoom', this.zoom);
    for (const b of this.zoomButtons) b.classList.toggle('active', b.dataset.zoom === this.zoom);
    this.moveWindow();
    this.loadTimeline();
  }

  windowSpan() {
    const seconds = ZOOMS.find((z) => z.key === this.zoom).seconds;
    const now = Date.now();
    return [new Date(now - seconds * 1000), new Date(now + seconds * 1000 * FUTURE_MARGIN)];
  }

  moveWindow() {
    const [start, end] = this.windowSpan();
    this.timeline.setWindow(start, end);
  }

  async loadTimeline() {
    this.timelineAbort?.abort();
    const abort = new AbortController();
    this.timelineAbort = abort;
    const [start] = this.windowSpan();
    try {
      const data = await camerasApi.timeline(this.camera, start, new Date(), { signal: abort.signal });
      const dates = (list) => list.map((s) => ({ ...s, start: new Date(s.start), end: new Date(s.end) }));
      this.timeline.setData(dates(data.ranges), dates(data.gaps));
      if (this.mode === 'playback') this.playback.ranges = this.timeline.ranges;
      this.recording = data.recording;
      this.recIndicator.textContent = data.recording ? '● REC' : 'not recording';
      this.recIndicator.classList.toggle('on', data.recording);
    } catch (err) {
      if (err.name !== 'AbortError') this.recIndicator.textContent = `timeline: ${err.message}`;
    }
  }

  select(a, b) {
    this.setExport([a, b]);
  }

  // Export -----------------------------------------------------------------------------
  setExport([start, end]) {
    this.exportStart.value = toLocalInput(start);
    this.exportEnd.value = toLocalInput(end);
    this.timeline.setSelection([start, end]);
    this.exportChanged();
  }

  exportSpan() {
    return [fromLocalInput(this.exportStart.value), fromLocalInput(this.exportEnd.value)];
  }

  exportChanged() {
    const [start, end] = this.exportSpan();
    let problem = null;
    if (!start || !end) problem = 'Enter a start and an end.';
    else if (end <= start) problem = 'The end must be after the start.';
    else if ((end - start) / 1000 > MAX_EXPORT_S) problem = 'An export spans at most 24 hours.';
    else if (this.exportRedact.checked && (end - start) / 1000 > MAX_REDACTED_EXPORT_S) {
      problem = 'A redacted export spans at most 15 minutes.';
    }
    this.exportInfo.textContent = problem ?? `${formatDuration((end - start) / 1000)} of video`;
    this.exportInfo.classList.toggle('error', Boolean(problem));
    this.exportButton.disabled = Boolean(problem) || this.exporting;
    if (!problem) this.timeline.setSelection([start, end]);
  }

  async doExport() {
    const [start, end] = this.exportSpan();
    if (!start || !end || end <= start) return;
    this.exporting = true;
    this.exportButton.disabled = true;
    this.exportStatus.className = 'export-status';
    const redact = this.exportRedact.checked ? ['faces', 'plates'] : [];
    this.exportStatus.textContent = redact.length
      ? 'Preparing the export and blurring faces and plates (a few times the video\'s length)…'
      : 'Preparing the export…';
    try {
      const response = await request(exportUrl(this.camera, start, end, redact));
      if (!response.ok) throw await errorOf(response);
      const blob = await readWithProgress(response, (n) => {
        this.exportStatus.textContent = `Downloading… ${formatBytes(n)}`;
      });
      const name = filenameOf(response) ?? `camera-${this.id}.mp4`;
      const url = URL.createObjectURL(blob);
      const link = h('a', { href: url, download: name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      this.exportStatus.classList.add('ok');
      this.exportStatus.textContent = `Saved ${name} (${formatBytes(blob.size)})`;
    } catch (err) {
      this.exportStatus.classList.add('error');
      this.exportStatus.textContent = `Export failed: ${err.message}`;
    } finally {
      this.exporting = false;
      this.exportChanged();
    }
  }
}

function lastMinutes() {
  const end = new Date();
  return [new Date(end.getTime() - DEFAULT_EXPORT_S * 1000), end];
}

async function readWithProgress(response, onProgress) {
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    onProgress(received);
  }
  return new Blob(chunks, { type: 'video/mp4' });
}

function filenameOf(response) {
  const header = response.headers.get('Content-Disposition') ?? '';
  const star = /filename\*=(?:UTF-8'')?([^;]+)/i.exec(header);
  if (star) return decodeURIComponent(star[1].trim().replace(/^"|"$/g, ''));
  const plain = /filename="?([^";]+)"?/i.exec(header);
  return plain ? plain[1] : null;
}
