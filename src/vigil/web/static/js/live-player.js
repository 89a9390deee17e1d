// Live video: fragmented MP4 over a WebSocket into Media Source Extensions.
//
// Protocol (see api/recorder_app.py): a JSON text {"type":"init","mime":...} followed by one
// binary message, the init segment; then one binary message per frame (moof+mdat).
// {"type":"ended","reason":...} when the camera stops (a new init follows when it returns,
// with timestamps starting again at 0: so every init gets a fresh MediaSource), and
// {"type":"error","message":...} followed by a close when nothing can be served.
//
// Latency: the playhead is kept at the live edge: a little faster than real time when it
// lags a bit, a jump when it lags more than MAX_LAG_S; old buffer is trimmed.

import { liveUrl, socketClosed } from './api.js';
import { store } from './store.js';
import { showOverlay } from './ui.js';

const MAX_LAG_S = 1.0; // jump to the live edge beyond this
const TARGET_LAG_S = 0.15; // where a jump lands, behind the newest frame
const CATCH_UP_LAG_S = 0.4; // above this, play slightly faster
const CATCH_UP_RATE = 1.1;
const KEEP_BEHIND_S = 10; // buffer kept behind the playhead
const TRIM_EVERY_S = 15;
const STALL_S = 8; // no message for this long while playing: reconnect
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10000;
const MAX_QUEUE = 300; // appends waiting: the browser cannot keep up, start again
const RECHECK_MS = 5000; // least time between reconnects prompted by the camera's health

/**
 * One MediaSource with one SourceBuffer on a <video>, and a queue of appends and removes
 * (a SourceBuffer takes one operation at a time). Used by live and recorded playback.
 */
export class MseSession {
  constructor(video, mime, { onError } = {}) {
    this.video = video;
    this.mime = mime;
    this.onError = onError ?? (() => {});
    this.mediaSource = new MediaSource();
    this.sourceBuffer = null;
    this.queue = [];
    this.closed = false;
    this.onUpdateEnd = null; // called after each completed operation
    this.url = URL.createObjectURL(this.mediaSource);
    this.mediaSource.addEventListener('sourceopen', () => this._open(), { once: true });
    video.src = this.url;
  }

  _open() {
    if (this.closed) return;
    try {
      this.sourceBuffer = this.mediaSource.addSourceBuffer(this.mime);
    } catch (err) {
      this.onError(`cannot play ${this.mime}: ${err.message}`);
      return;
    }
    this.sourceBuffer.addEventListener('updateend', () => {
      this._pump();
      this.onUpdateEnd?.();
    });
    this.sourceBuffer.addEventListener('error', () => this.onError('the video could not be decoded'));
    this._pump();
  }

  /** Queue bytes (init segment or media) to append. */
  append(data) {
    if (this.closed) return;
    this.queue.push({ op: 'append', data });
    this._pump();
  }

  /** Queue removal of buffered media in [start, end). */
  remove(start, end) {
    if (this.closed || end <= start) return;
    this.queue.push({ op: 'remove', start, end });
    this._pump();
  }

  /** Queue the end of the stream (after every pending append). */
  end() {
    if (this.closed) return;
    this.queue.push({ op: 'end' });
    this._pump();
  }

  get pending() {
    return this.queue.length + (this.sourceBuffer?.updating ? 1 : 0);
  }

  /** The buffered range of the video element, as [start, end] of its last range. */
  lastRange() {
    const b = this.video.buffered;
    return b.length ? [b.start(b.length - 1), b.end(b.length - 1)] : null;
  }

  _pump() {
    const sb = this.sourceBuffer;
    if (this.closed || !sb || sb.updating || !this.queue.length) return;
    if (this.mediaSource.readyState !== 'open') return;
    const item = this.queue.shift();
    try {
      if (item.op === 'append') sb.appendBuffer(item.data);
      else if (item.op === 'remove') sb.remove(item.start, item.end);
      else if (item.op === 'end') this.mediaSource.endOfStream();
    } catch (err) {
      if (err.name === 'QuotaExceededError' && item.op === 'append') {
        // Full: drop what is behind the playhead and try again.
        const keepFrom = Math.max(0, this.video.currentTime - 2);
        this.queue.unshift({ op: 'remove', start: 0, end: keepFrom || 1 }, item);
        setTimeout(() => this._pump(), 0);
        return;
      }
      this.onError(`the browser refused the video (${err.name})`);
    }
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    try {
      if (this.mediaSource.readyState === 'open') this.mediaSource.endOfStream();
    } catch {
      // already ending
    }
    URL.revokeObjectURL(this.url);
  }
}

/** Stop whatever plays on a <video> and make it empty. */
export function clearVideo(video) {
  video.pause();
  video.removeAttribute('src');
  video.load();
}

/**
 * Live view of one camera on a <video>, with an overlay element for status text.
 * Emits "state" events (detail: { state, message }); states: connecting, playing,
 * ended (camera stopped), error (server refused), unsupported (codec), stopped.
 */
export class LivePlayer extends EventTarget {
  constructor(video, { cameraId, overlay = null, stream = 'main' } = {}) {
    super();
    this.video = video;
    this.cameraId = cameraId;
    this.stream = stream;
    this.overlay = overlay;
    this.state = 'stopped';
    this.message = '';
    this.ws = null;
    this.session = null;
    this.mime = null;
    this._expectInit = false;
    this._retryMs = RETRY_MIN_MS;
    this._retryTimer = null;
    this._tickTimer = null;
    this._lastMessageAt = 0;
    this._lastTrimAt = 0;
    this._running = false;
    this._endedReason = null;
    this._health = null;
    this._connectedAt = 0;
    video.muted = true;
    video.playsInline = true;
    this._onVisible = () => this._keepLive();
  }

  start() {
    if (this._running) return;
    this._running = true;
    this._connect();
    this._tickTimer = setInterval(() => this._tick(), 500);
    document.addEventListener('visibilitychange', this._onVisible);
  }

  stop() {
    this._running = false;
    clearTimeout(this._retryTimer);
    clearInterval(this._tickTimer);
    document.removeEventListener('visibilitychange', this._onVisible);
    this._closeSocket();
    this._closeSession();
    clearVideo(this.video);
    this._setState('stopped', '');
  }

  /**
   * The camera's health as the API reports it ({status, last_error}). It words the overlay
   * ("Camera disabled", the last error), and when the camera is online again while this
   * player still waits (ended, refused), it reconnects at once instead of after its backoff.
   */
  setHealth(health) {
    this._health = health;
    if (this.state === 'ended') this._setState('ended', this._endedMessage());
    this._recheck();
  }

  /** Waiting for a camera that its health says is online: the wait is stale, start over. */
  _recheck() {
    const waiting = this.state === 'ended' || this.state === 'error';
    if (!waiting || !this._running || this._health?.status !== 'online') return;
    if (performance.now() - this._connectedAt > RECHECK_MS) this._reconnectNow(0);
  }

  _endedMessage() {
    if (this._health?.status === 'disabled') return 'Camera disabled';
    const why = this._health?.last_error || this._endedReason;
    return why ? `Camera offline: ${why}` : 'Camera offline';
  }

  /** Seconds between the newest buffered frame and the one shown. */
  get latency() {
    const range = this.session?.lastRange();
    return range ? Math.max(0, range[1] - this.video.currentTime) : null;
  }

  _connect() {
    // A camera that is refusing or offline keeps its message while we try again.
    if (!['error', 'unsupported', 'ended'].includes(this.state)) {
      this._setState('connecting', 'Connecting…');
    }
    const ws = new WebSocket(liveUrl(store.get(this.cameraId) ?? this.cameraId, this.stream));
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this._lastMessageAt = this._connectedAt = performance.now();
    let opened = false;
    ws.onopen = () => { opened = true; };
    ws.onmessage = (msg) => {
      if (ws !== this.ws) return;
      this._lastMessageAt = performance.now();
      if (typeof msg.data === 'string') this._onText(msg.data);
      else this._onBinary(msg.data);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (!this._running) return;
      socketClosed(ev, opened); // refused for want of a session: back to the sign-in form
      if (this.state !== 'error' && this.state !== 'unsupported') {
        const why = ev.reason || 'connection lost';
        this._setState('connecting', `Reconnecting… (${why})`);
      }
      this._scheduleReconnect();
    };
  }

  _scheduleReconnect(delayMs = this._retryMs) {
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => this._running && this._connect(), delayMs);
    this._retryMs = Math.min(this._retryMs * 2, RETRY_MAX_MS);
  }

  _reconnectNow(delayMs = RETRY_MIN_MS) {
    this._closeSocket();
    this._closeSession();
    this._retryMs = RETRY_MIN_MS;
    this._scheduleReconnect(delayMs);
  }

  _closeSocket() {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onmessage = ws.onclose = null;
      ws.close();
    }
  }

  _closeSession() {
    this.session?.close();
    this.session = null;
  }

  _onText(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (msg.type === 'init') {
      this._closeSession();
      this.mime = msg.mime;
      if (!window.MediaSource || !MediaSource.isTypeSupported(msg.mime)) {
        this._expectInit = false;
        this._setState('unsupported', `This browser cannot play this stream (${msg.mime})`);
        return;
      }
      this._expectInit = true;
    } else if (msg.type === 'ended') {
      this._expectInit = false;
      this._closeSession();
      this._endedReason = msg.reason && msg.reason !== 'not started' ? msg.reason : null;
      this._setState('ended', this._endedMessage());
    } else if (msg.type === 'error') {
      this._setState('error', msg.message || 'live view unavailable');
    }
  }

  _onBinary(data) {
    if (this._expectInit) {
      this._expectInit = false;
      this.session = new MseSession(this.video, this.mime, {
        onError: (message) => {
          this._setState('error', message);
          this._closeSocket();
          this._closeSession();
          this._scheduleReconnect(); // with a growing delay: it may fail again
        },
      });
      this.session.onUpdateEnd = () => this._afterAppend();
      this.session.append(data);
      return;
    }
    if (!this.session) return; // fragments of a stream we cannot play
    if (this.session.pending > MAX_QUEUE) {
      this._reconnectNow(); // hopelessly behind: start again at the newest keyframe
      return;
    }
    this.session.append(data);
  }

  _afterAppend() {
    if (this.video.buffered.length && this.state !== 'playing') {
      this._retryMs = RETRY_MIN_MS; // video flows: the next failure retries quickly again
      this._setState('playing', '');
    }
    this._keepLive();
  }

  /** Keep the playhead at the live edge, and playing. */
  _keepLive() {
    const session = this.session;
    const range = session?.lastRange();
    if (!range) return;
    const video = this.video;
    const [start, end] = range;
    const lag = end - video.currentTime;
    if (video.currentTime < start || lag > MAX_LAG_S) {
      video.currentTime = Math.max(start, end - TARGET_LAG_S);
    } else {
      const rate = lag > CATCH_UP_LAG_S ? CATCH_UP_RATE : 1;
      if (video.playbackRate !== rate) video.playbackRate = rate;
    }
    if (video.paused) video.play().catch(() => {});
    const now = performance.now();
    if (now - this._lastTrimAt > TRIM_EVERY_S * 1000 && !session.sourceBuffer?.updating) {
      this._lastTrimAt = now;
      const b = video.buffered;
      const trimTo = video.currentTime - KEEP_BEHIND_S;
      if (b.length && trimTo > b.start(0)) session.remove(0, trimTo);
    }
  }

  _tick() {
    if (this.state === 'playing') {
      this._keepLive();
      if (performance.now() - this._lastMessageAt > STALL_S * 1000) {
        this._setState('connecting', 'No video for a while: reconnecting…');
        this._reconnectNow();
      }
    } else {
      this._recheck();
    }
  }

  _setState(state, message) {
    if (state === this.state && message === this.message) return;
    this.state = state;
    this.message = message;
    showOverlay(this.overlay, state, message);
    this.video.dataset.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, message } }));
  }
}
