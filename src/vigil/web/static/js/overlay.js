// Boxes over the live view: while switched on, follows one camera's analytics on
// /api/events?topics=analytics&camera=ID and draws each analysed frame's objects (box, class,
// track id) on a canvas over the <video>, fitted to where the picture is shown. Boxes are
// cleared when frames stop coming. A status line says how the analytics is doing (running with
// its rates, or why it is unavailable).

import { analytics as analyticsApi, analyticsUrl, socketClosed } from './api.js';
import { h } from './ui.js';

const STALE_MS = 1500; // no frame for this long: the boxes are out of date
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 15000;
const CLASS_COLOURS = {
  person: '#facc15', bicycle: '#34d399', motorcycle: '#34d399', car: '#38bdf8', bus: '#818cf8',
  truck: '#818cf8', backpack: '#f472b6', handbag: '#f472b6', suitcase: '#f472b6',
};

export class AnalyticsOverlay {
  /** `stage`: the positioned element holding `video`; `health()` gives the camera's health. */
  constructor(stage, video, { cameraId, health = () => null }) {
    this.cameraId = cameraId;
    this.video = video;
    this.stage = stage;
    this.health = health;
    this.enabled = false;
    this.visible = true;
    this.frame = null;
    this.ws = null;
    this.retry = RETRY_MIN_MS;
    this.staleTimer = null;
    this.retryTimer = null;
    this.canvas = h('canvas', { class: 'analytics-boxes', hidden: true, dataset: { testid: 'analytics-boxes', objects: '0' } });
    this.status = h('div', { class: 'analytics-status', hidden: true, dataset: { testid: 'analytics-status' } });
    stage.append(this.canvas, this.status);
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(stage);
    video.addEventListener('loadedmetadata', () => this.draw());
  }

  destroy() {
    this.setEnabled(false);
    this.resize.disconnect();
    this.canvas.remove();
    this.status.remove();
  }

  setEnabled(on) {
    if (on === this.enabled) return;
    this.enabled = on;
    this.canvas.hidden = !on || !this.visible;
    this.status.hidden = !on;
    if (on) {
      this.showStatus({ state: 'connecting' });
      this.connect();
      this.loadStatus();
    } else {
      clearTimeout(this.retryTimer);
      const ws = this.ws;
      this.ws = null;
      ws?.close();
      this.clear();
    }
  }

  /** Boxes belong to the live picture only: hidden during playback. */
  setVisible(visible) {
    this.visible = visible;
    this.canvas.hidden = !this.enabled || !visible;
  }

  async loadStatus() {
    try {
      const all = await analyticsApi.status();
      const mine = Array.isArray(all) ? all.find((s) => s.camera_id === this.cameraId) : null;
      // A status pushed meanwhile is newer than this one.
      if (mine && this.enabled && ['connecting', 'waiting'].includes(this.status.dataset.state)) this.showStatus(mine);
    } catch {
      // no status route (yet): the pushed status will come
    }
  }

  connect() {
    if (!this.enabled) return;
    const ws = new WebSocket(analyticsUrl(this.cameraId));
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.retry = RETRY_MIN_MS;
      if (this.status.dataset.state === 'connecting') this.showStatus({ state: 'waiting' });
    };
    ws.onmessage = (msg) => {
      let envelope;
      try {
        envelope = JSON.parse(msg.data);
      } catch {
        return;
      }
      if (envelope.kind === 'analytics.frame') this.onFrame(envelope.payload);
      else if (envelope.kind === 'analytics.status') this.showStatus(envelope.payload);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return; // switched off, or replaced
      this.ws = null;
      socketClosed(e, opened);
      this.clear();
      this.showStatus({ state: 'error', error: `analytics updates disconnected${e.reason ? `: ${e.reason}` : ''}; retrying` });
      this.retryTimer = setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, RETRY_MAX_MS);
    };
  }

  onFrame(frame) {
    this.frame = frame;
    this.draw();
    clearTimeout(this.staleTimer);
    this.staleTimer = setTimeout(() => this.clear(), STALE_MS);
  }

  clear() {
    clearTimeout(this.staleTimer);
    this.frame = null;
    this.draw();
  }

  showStatus(s) {
    this.status.dataset.state = s.state;
    let text;
    switch (s.state) {
      case 'connecting': text = 'Analytics: connecting…'; break;
      case 'waiting': text = 'Analytics: waiting for the camera’s analytics…'; break;
      case 'running':
        text = `Analytics running · ${s.detector ?? 'detector ?'} · ${fmt(s.frames_analysed)} fps analysed · ` +
          `${fmt(s.frames_dropped)} dropped/s` + (s.detector_ms ? ` · ${Math.round(s.detector_ms)} ms/frame` : '');
        break;
      case 'disabled': text = 'Analytics is off for this camera (Analytics settings to switch it on)'; break;
      default:
        text = `Analytics ${s.state}${s.detector ? ` (${s.detector})` : ''}${s.error ? `: ${s.error}` : ''}`;
    }
    this.status.textContent = text;
    this.status.title = text;
    this.status.classList.toggle('problem', ['unavailable', 'error'].includes(s.state));
  }

  /** Where the picture is drawn inside the stage (the video is letterboxed: object-fit contain). */
  pictureRect(width, height) {
    const health = this.health();
    const vw = this.video.videoWidth || health?.width || width;
    const vh = this.video.videoHeight || health?.height || height;
    const scale = Math.min(width / vw, height / vh);
    const w = vw * scale, hgt = vh * scale;
    return { x: (width - w) / 2, y: (height - hgt) / 2, w, h: hgt };
  }

  draw() {
    const width = this.stage.clientWidth, height = this.stage.clientHeight;
    const ratio = window.devicePixelRatio || 1;
    if (this.canvas.width !== Math.round(width * ratio)) this.canvas.width = Math.round(width * ratio);
    if (this.canvas.height !== Math.round(height * ratio)) this.canvas.height = Math.round(height * ratio);
    const ctx = this.canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const objects = (this.enabled && this.frame?.objects) || [];
    const drawn = objects.filter((o) => Array.isArray(o.box) && o.box.length === 4);
    this.canvas.dataset.objects = String(drawn.length);
    this.canvas.dataset.labels = drawn.map(labelOf).join('|');
    if (!drawn.length) return;
    const pic = this.pictureRect(width, height);
    ctx.font = '600 11px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    for (const o of drawn) {
      const [x1, y1, x2, y2] = o.box;
      const x = pic.x + x1 * pic.w, y = pic.y + y1 * pic.h;
      const w = (x2 - x1) * pic.w, hgt = (y2 - y1) * pic.h;
      const colour = CLASS_COLOURS[o.class_name] ?? '#e5e7eb';
      ctx.lineWidth = 2;
      ctx.strokeStyle = colour;
      ctx.strokeRect(x, y, w, hgt);
      const text = labelOf(o);
      const tw = ctx.measureText(text).width + 8;
      const ty = y >= 16 ? y - 16 : y;
      ctx.fillStyle = colour;
      ctx.fillRect(x - 1, ty, tw, 16);
      ctx.fillStyle = '#000';
      ctx.fillText(text, x + 3, ty + 2);
    }
  }
}

function labelOf(o) {
  return `${o.class_name}${o.track_id != null ? ` #${o.track_id}` : ''}`;
}

function fmt(v) {
  return typeof v === 'number' ? v.toFixed(1) : '0';
}
