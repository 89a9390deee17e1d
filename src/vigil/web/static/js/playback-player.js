// Recorded video: GET /api/cameras/{id}/playback.mp4?start=... read with fetch() into Media
// Source Extensions. One request gives both the video and its X-Vigil-Start header (the
// wall-clock time of video time 0), and reading the body only as fast as it plays lets the
// server's stream wait (back-pressure) instead of filling memory.
//
// Wall-clock time of the frame shown = X-Vigil-Start + video time, walked along the
// recorded ranges of the timeline: gaps are collapsed in the stream.

import { errorOf, request } from './api.js';
import { clearVideo, MseSession } from './live-player.js';
import { showOverlay } from './ui.js';

const BUFFER_AHEAD_S = 30; // read no further ahead of the playhead than this
const WAIT_MS = 250;

/**
 * Plays recorded video on a <video>. Emits "state" events (detail: { state, message });
 * states: loading, playing, ended (end of the recording), error, stopped.
 */
export class PlaybackPlayer extends EventTarget {
  constructor(video, { overlay = null } = {}) {
    super();
    this.video = video;
    this.overlay = overlay;
    this.state = 'stopped';
    this.message = '';
    this.firstWall = null; // Date of video time `origin`
    this.origin = 0; // video time of the first frame
    this.ranges = []; // recorded [{start: Date, end: Date}] to map video time across gaps
    this.session = null;
    this._abort = null;
    this._onEnded = () => this._setState('ended', 'End of the recording · press Live for the live view');
  }

  /** Play `url` (a playback.mp4 URL) and seek to `seekTo` (a Date) once it is known. */
  async play(url, seekTo = null) {
    this.stop();
    const abort = new AbortController();
    this._abort = abort;
    this._setState('loading', 'Loading recording…');
    try {
      const response = await request(url, { signal: abort.signal });
      if (!response.ok) throw await errorOf(response);
      const header = response.headers.get('X-Vigil-Start');
      this.firstWall = header ? new Date(header) : seekTo;
      await this._stream(response.body.getReader(), abort.signal, seekTo);
    } catch (err) {
      if (abort.signal.aborted) return;
      this._setState('error', `Playback failed: ${err.message}`);
    }
  }

  stop() {
    this._abort?.abort();
    this._abort = null;
    this.session?.close();
    this.session = null;
    this.video.removeEventListener('ended', this._onEnded);
    this.video.onplaying = null;
    if (this.state !== 'stopped') clearVideo(this.video);
    this.video.playbackRate = 1;
    this._setState('stopped', '');
  }

  /** Wall-clock Date of the frame on screen, null before playback started. */
  wallTime() {
    if (!this.firstWall || !this.session) return null;
    const offset = Math.max(0, this.video.currentTime - this.origin);
    return wallAt(this.ranges, this.firstWall, offset);
  }

  async _stream(reader, signal, seekTo) {
    // Collect bytes until the init segment (ftyp+moov) is complete: it names the codecs.
    let head = new Uint8Array(0);
    let init = null;
    while (!init) {
      const { done, value } = await reader.read();
      if (done) throw new Error('the recording ended before its header');
      head = concat(head, value);
      init = parseInit(head);
    }
    if (!window.MediaSource || !MediaSource.isTypeSupported(init.mime)) {
      throw new Error(`this browser cannot play ${init.mime}`);
    }
    const session = new MseSession(this.video, init.mime, {
      onError: (message) => this._setState('error', message),
    });
    this.session = session;
    this.video.addEventListener('ended', this._onEnded);
    let first = true;
    session.onUpdateEnd = () => {
      const b = this.video.buffered;
      if (!first || !b.length) return;
      first = false;
      this.origin = b.start(0);
      // Start at the chosen moment, not at the keyframe before it.
      const skip = seekTo ? (seekTo - this.firstWall) / 1000 : 0;
      this.video.currentTime = this.origin + Math.max(0, skip);
      this.video.play().catch(() => {});
    };
    this.video.onplaying = () => {
      if (this.session === session) this._setState('playing', '');
    };
    session.append(head);
    for (;;) {
      await this._whileAhead(session, signal);
      if (signal.aborted) return;
      const { done, value } = await reader.read();
      if (signal.aborted) return;
      if (done) break;
      session.append(value);
    }
    session.end();
  }

  /** Wait while enough is buffered ahead of the playhead (or appends are pending). */
  async _whileAhead(session, signal) {
    for (;;) {
      if (signal.aborted || session.closed) return;
      const range = session.lastRange();
      const ahead = range ? range[1] - this.video.currentTime : 0;
      if (session.pending < 8 && ahead < BUFFER_AHEAD_S) return;
      await new Promise((resolve) => setTimeout(resolve, WAIT_MS));
    }
  }

  _setState(state, message) {
    this.state = state;
    this.message = message;
    showOverlay(this.overlay, state, message);
    this.dispatchEvent(new CustomEvent('state', { detail: { state, message } }));
  }
}

/**
 * The wall-clock time shown `offset` seconds into a stream that starts at `firstWall`, with
 * the gaps between recorded `ranges` ({start, end} Dates, sorted) collapsed. Outside the
 * known ranges time simply runs on.
 */
export function wallAt(ranges, firstWall, offset) {
  let left = offset * 1000;
  let cursor = firstWall.getTime();
  for (const range of ranges) {
    const end = range.end.getTime();
    if (end <= cursor) continue; // before the stream's first frame
    const start = Math.max(range.start.getTime(), cursor); // a gap before it is collapsed
    if (left <= end - start) return new Date(start + left);
    left -= end - start;
    cursor = end;
  }
  return new Date(cursor + left);
}

function concat(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

// MP4 boxes ---------------------------------------------------------------------------------

/** Find ftyp+moov at the start of `bytes`; returns { mime, length } or null if incomplete. */
export function parseInit(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const box of boxes(view, 0, bytes.length)) {
    if (box.end > bytes.length) return null;
    if (box.type === 'moov') {
      const codecs = [];
      for (const trak of children(view, box, 'trak')) {
        const stsd = path(view, trak, ['mdia', 'minf', 'stbl', 'stsd']);
        if (stsd) codecs.push(...sampleCodecs(view, stsd));
      }
      const mime = codecs.length ? `video/mp4; codecs="${codecs.join(',')}"` : 'video/mp4';
      return { mime, length: box.end };
    }
  }
  return null;
}

function* boxes(view, start, end) {
  let pos = start;
  while (pos + 8 <= end) {
    let size = view.getUint32(pos);
    const type = String.fromCharCode(...new Uint8Array(view.buffer, view.byteOffset + pos + 4, 4));
    let header = 8;
    if (size === 1) {
      if (pos + 16 > view.byteLength) return;
      size = Number(view.getBigUint64(pos + 8));
      header = 16;
    } else if (size === 0) {
      size = end - pos;
    }
    if (size < header) return;
    yield { type, start: pos, body: pos + header, end: pos + size };
    pos += size;
  }
}

function* children(view, box, type, skip = 0) {
  for (const child of boxes(view, box.body + skip, box.end)) if (child.type === type) yield child;
}

function path(view, box, types) {
  let current = box;
  for (const type of types) {
    current = children(view, current, type).next().value;
    if (!current) return null;
  }
  return current;
}

const hex = (n) => n.toString(16).padStart(2, '0');

function sampleCodecs(view, stsd) {
  const codecs = [];
  // stsd: version/flags (4) + entry count (4), then sample entries.
  for (const entry of boxes(view, stsd.body + 8, stsd.end)) {
    if (entry.type === 'avc1' || entry.type === 'avc3') {
      const avcC = children(view, entry, 'avcC', 78).next().value; // after the visual fields
      codecs.push(
        avcC
          ? `${entry.type}.${hex(view.getUint8(avcC.body + 1))}${hex(view.getUint8(avcC.body + 2))}${hex(view.getUint8(avcC.body + 3))}`
          : 'avc1.42e01e',
      );
    } else if (entry.type === 'hvc1' || entry.type === 'hev1') {
      codecs.push(`${entry.type}.1.6.L93.B0`);
    } else if (entry.type === 'mp4a') {
      codecs.push(`mp4a.40.${aacObjectType(view, entry) ?? 2}`);
    }
  }
  return codecs;
}

function aacObjectType(view, mp4a) {
  // AudioSampleEntry fields (28 bytes), then esds: a full box holding ES descriptors.
  const esds = children(view, mp4a, 'esds', 28).next().value;
  if (!esds) return null;
  let pos = esds.body + 4;
  const readLength = () => {
    let len = 0;
    for (let i = 0; i < 4; i++) {
      const b = view.getUint8(pos++);
      len = (len << 7) | (b & 0x7f);
      if (!(b & 0x80)) break;
    }
    return len;
  };
  while (pos < esds.end - 2) {
    const tag = view.getUint8(pos++);
    const len = readLength();
    if (tag === 0x03) pos += 3; // ES_Descriptor: id and flags (no optional fields from muxers)
    else if (tag === 0x04) pos += 13; // DecoderConfigDescriptor fixed part
    else if (tag === 0x05) return view.getUint8(pos) >> 3; // AudioSpecificConfig
    else pos += len;
  }
  return null;
}
