// One alarm beside the queue: what happened (snapshot, the video around it in one click, the
// event's data), the SOP checklist, the state moves its state allows, owner, comments and
// history, and the actions the rule ran (failed ones with their error and a retry button).
// Refreshed when the server says the alarm changed; typed text survives a refresh. The server
// records the signed-in user as the one who acts.

import {
  MOVES, actionStatusChip, clearedFlag, humanType, priorityBadge, stateChip,
} from './alarm-format.js';
import { actions as actionsApi, alarms as alarmsApi, playbackUrl } from './api.js';
import { PlaybackPlayer } from './playback-player.js';
import { session } from './session.js';
import { formatAgo, formatDateTime, h, promptDialog, replace, toast } from './ui.js';

export class AlarmDetail {
  constructor(container, id, { onClose } = {}) {
    this.container = container;
    this.id = id;
    this.alarm = null;
    this.player = null;
    this.abort = null;
    this.busy = false;

    this.header = h('div', { class: 'alarm-head' });
    this.moves = h('div', { class: 'alarm-moves', dataset: { testid: 'alarm-moves' } });
    this.media = h('div', { class: 'alarm-media' });
    this.facts = h('dl', { class: 'details', dataset: { testid: 'alarm-facts' } });
    this.sop = h('ul', { class: 'sop-list', dataset: { testid: 'sop-list' } });
    this.actionsBox = h('div', { dataset: { testid: 'alarm-actions' } });
    this.notes = h('ol', { class: 'notes', dataset: { testid: 'alarm-notes' } });
    this.error = h('div', { class: 'banner error', hidden: true, dataset: { testid: 'alarm-error' } });

    this.ownerInput = h('input', { class: 'input input-small', placeholder: 'owner', dataset: { testid: 'owner-input' } });
    this.comment = h('textarea', { class: 'input', rows: 2, placeholder: 'Add a comment…', dataset: { testid: 'comment-text' } });
    const ownerForm = h('form', { class: 'inline-form', onsubmit: (e) => { e.preventDefault(); this.assign(this.ownerInput.value.trim()); } },
      this.ownerInput,
      h('button', { class: 'btn btn-small', dataset: { testid: 'assign-owner' } }, 'Assign'),
      h('button', { type: 'button', class: 'btn btn-small', dataset: { testid: 'take-alarm' },
        title: 'Make yourself the owner', onclick: () => this.assign(session.me?.username) }, 'Take'));
    const commentForm = h('form', { class: 'comment-form', onsubmit: (e) => { e.preventDefault(); this.addComment(); } },
      this.comment,
      h('div', { class: 'form-actions' }, h('button', { class: 'btn btn-small btn-primary', dataset: { testid: 'add-comment' } }, 'Comment')));

    replace(container, h('div', { class: 'alarm-detail', dataset: { testid: 'alarm-detail', alarmId: id } },
      h('div', { class: 'alarm-detail-bar' },
        h('span', { class: 'meta' }, `Alarm #${id}`), h('span', { class: 'spacer' }),
        h('button', { class: 'btn btn-small', title: 'Close the panel', dataset: { testid: 'close-detail' }, onclick: () => onClose?.() }, '✕')),
      this.error,
      this.header,
      this.moves,
      section('Owner', ownerForm),
      this.media,
      section('Checklist', this.sop),
      section('Event', this.facts),
      section('Actions', this.actionsBox),
      section('History', commentForm, this.notes)));
    this.refresh();
  }

  destroy() {
    this.abort?.abort();
    this.player?.stop();
    this.destroyed = true;
  }

  async refresh() {
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    try {
      this.show(await alarmsApi.get(this.id, { signal: abort.signal }));
    } catch (err) {
      if (err.name === 'AbortError') return;
      this.fail(err.status === 404 ? `Alarm #${this.id} does not exist.` : `Alarm not loaded: ${err.message}`);
    }
  }

  fail(message) {
    this.error.hidden = !message;
    this.error.textContent = message ?? '';
  }

  show(alarm) {
    if (this.destroyed) return;
    const first = !this.alarm;
    this.alarm = alarm;
    this.fail(null);
    this.container.querySelector('.alarm-detail').dataset.state = alarm.state;
    replace(this.header,
      h('div', { class: 'alarm-head-line' }, priorityBadge(alarm.priority, alarm.priority_name), stateChip(alarm.state),
        alarm.escalated_at ? h('span', { class: 'flag flag-escalated', dataset: { testid: 'alarm-escalated' } }, '▲ escalated') : null,
        alarm.condition_cleared_at ? clearedFlag(alarm.condition_cleared_at) : null),
      h('h1', { class: 'alarm-detail-title', dataset: { testid: 'detail-title' } }, alarm.title),
      h('div', { class: 'meta' }, [alarm.category, alarm.rule_name, alarm.camera_name].filter(Boolean).join(' · ')),
      alarm.closing_reason ? h('div', { class: 'closing-reason', dataset: { testid: 'closing-reason' } }, `Closed: ${alarm.closing_reason}`) : null);
    replace(this.moves, (MOVES[alarm.state] ?? []).map(([state, label]) =>
      h('button', { class: `btn btn-small${state === 'acknowledged' ? ' btn-primary' : ''}`,
        dataset: { testid: `move-${state}` }, onclick: () => this.move(state) }, label)));
    if (first) this.ownerInput.value = alarm.owner ?? '';
    this.ownerInput.placeholder = alarm.owner ? alarm.owner : 'nobody';
    this.renderMedia(first);
    this.renderFacts();
    this.renderSop();
    this.renderActions();
    this.renderNotes();
  }

  renderMedia(first) {
    const a = this.alarm;
    if (!first) return; // the snapshot and video do not change; keep a playing video going
    const parts = [];
    if (a.snapshot_url) {
      parts.push(h('a', { href: a.snapshot_url, target: '_blank', rel: 'noopener' },
        h('img', { class: 'snapshot', src: a.snapshot_url, alt: 'Event snapshot', dataset: { testid: 'alarm-snapshot' } })));
    }
    if (a.video) {
      const start = new Date(a.video.start);
      const end = new Date(a.video.end);
      const video = h('video', { muted: true, playsinline: true, dataset: { testid: 'alarm-video' } });
      const overlay = h('div', { class: 'video-overlay', hidden: true, dataset: { testid: 'alarm-video-overlay' } });
      const stage = h('div', { class: 'alarm-stage', hidden: true }, video, overlay);
      const play = h('button', { class: 'btn btn-small', dataset: { testid: 'play-video' }, onclick: () => {
        stage.hidden = false;
        this.player?.stop();
        this.player = new PlaybackPlayer(video, { overlay });
        this.player.play(playbackUrl({ id: a.video.camera_id, site: a.site }, start), start);
        // Stop at the end of the linked span rather than run on to the live edge.
        video.ontimeupdate = () => {
          const wall = this.player?.wallTime();
          if (wall && wall >= end && !video.paused) video.pause();
        };
      } }, `▶ Play video ${formatDateTime(start).slice(11)}–${formatDateTime(end).slice(11)}`);
      parts.push(h('div', { class: 'alarm-video-bar' }, play,
        h('a', { class: 'btn btn-small', href: `#/camera/${a.video.camera_id}`, dataset: { testid: 'open-camera' } }, 'Open camera')), stage);
    }
    replace(this.media, parts.length ? section('Snapshot and video', parts) : null);
  }

  renderFacts() {
    const a = this.alarm;
    const e = a.event;
    const rows = [
      ['Raised', `${formatDateTime(a.created_at)} (${formatAgo(a.created_at)})`],
      ['Occurrences', a.occurrences > 1 ? `${a.occurrences}, last ${formatDateTime(a.last_at)}` : '1'],
      ['Acknowledged', a.acknowledged_at ? formatDateTime(a.acknowledged_at) : null],
      ['Escalates', a.escalate_after_min && !a.acknowledged_at ? `after ${a.escalate_after_min} min unacknowledged` : null],
      ['Condition cleared', a.condition_cleared_at ? formatDateTime(a.condition_cleared_at) : null],
      ['Closed', a.closed_at ? formatDateTime(a.closed_at) : null],
      ['Type', humanType(e?.type ?? a.event_type)],
      // A camera status event carries the recorder's last error: why the camera is offline.
      ['Reason', typeof e?.attributes?.error === 'string' ? e.attributes.error : null],
      ['At', e ? formatDateTime(e.at, { ms: true }) : null],
      ['Camera', a.camera_name],
      ['Zone', e?.zone],
      ['Object', e?.object ? objectText(e.object) : null],
      ['Count', e?.count],
      ['Source', e?.source],
    ].filter(([, v]) => v !== null && v !== undefined && v !== '');
    const attributes = e?.attributes && Object.keys(e.attributes).length
      ? [h('dt', {}, 'Data'),
        h('dd', {}, h('pre', { class: 'event-data', dataset: { testid: 'event-data' } }, JSON.stringify(e.attributes, null, 2)))]
      : [];
    replace(this.facts, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]), attributes);
  }

  renderSop() {
    const a = this.alarm;
    const closed = a.state === 'closed';
    if (!a.sop.length) {
      replace(this.sop, h('li', { class: 'meta' }, 'No checklist for this alarm.'));
      return;
    }
    const done = a.sop.filter((s) => s.done).length;
    this.sop.dataset.done = String(done);
    replace(this.sop, a.sop.map((item, i) => {
      const box = h('input', { type: 'checkbox', checked: item.done, disabled: closed, dataset: { testid: 'sop-check' },
        onchange: () => this.tick(i, box.checked) });
      return h('li', { class: item.done ? 'done' : '', dataset: { testid: 'sop-item', index: i, done: String(item.done) } },
        h('label', {}, box, h('span', { class: 'sop-text' }, item.text)),
        item.done && item.by ? h('span', { class: 'sub' }, `${item.by} · ${formatDateTime(item.at)}`) : null);
    }));
  }

  renderActions() {
    const list = this.alarm.actions ?? [];
    if (!list.length) {
      replace(this.actionsBox, h('div', { class: 'meta' }, 'No actions besides the alarm.'));
      return;
    }
    replace(this.actionsBox, h('table', { class: 'table compact' },
      h('thead', {}, h('tr', {}, ['Action', 'Status', 'Tries', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, list.map((run) => h('tr', { class: run.status === 'failed' ? 'action-failed' : '',
        dataset: { testid: 'action-row', actionId: run.id, status: run.status } },
      h('td', {}, humanType(run.type),
        run.last_error ? h('span', { class: 'sub error-text', dataset: { testid: 'action-error' } }, run.last_error) : null,
        run.status === 'pending' && run.next_attempt_at ? h('span', { class: 'sub' }, `next try ${formatDateTime(run.next_attempt_at)}`) : null,
        run.done_at ? h('span', { class: 'sub' }, formatDateTime(run.done_at)) : null),
      h('td', {}, actionStatusChip(run.status)),
      h('td', { class: 'num' }, String(run.attempts)),
      h('td', { class: 'actions' }, run.status === 'failed'
        ? h('button', { class: 'btn btn-small', dataset: { testid: 'retry-action' }, onclick: () => this.retry(run) }, 'Retry')
        : null))))));
  }

  renderNotes() {
    const notes = [...(this.alarm.notes ?? [])].reverse(); // newest first
    replace(this.notes, notes.map((n) => h('li', { class: `note note-${n.kind}`, dataset: { testid: 'alarm-note', kind: n.kind } },
      h('div', { class: 'note-head' }, h('span', { class: 'note-author' }, n.author ?? 'Vigil'),
        h('span', { class: 'meta' }, ` · ${formatDateTime(n.at)}`)),
      h('div', { class: 'note-text' }, n.text))));
  }

  /** Run a request that returns the alarm; show it, or the error. */
  async act(what, request) {
    if (this.busy) return false;
    this.busy = true;
    try {
      const result = await request();
      if (result && result.id === this.id) this.show(result);
      else await this.refresh();
      return true;
    } catch (err) {
      toast(`${what} failed: ${err.message}`, 'error', 8000);
      await this.refresh();
      return false;
    } finally {
      this.busy = false;
    }
  }

  async move(state) {
    let reason = null;
    if (state === 'closed') {
      reason = await promptDialog('Why is this alarm closed? (e.g. false alarm: wind in the trees; police on site)', {
        ok: 'Close alarm', multiline: true, testid: 'close-dialog' });
      if (!reason) return;
    }
    await this.act('Changing the state', () => alarmsApi.transition(this.id, state, reason));
  }

  async assign(owner) {
    if (!owner) return;
    if (await this.act('Assigning', () => alarmsApi.assign(this.id, owner))) this.ownerInput.value = owner;
  }

  async addComment() {
    const text = this.comment.value.trim();
    if (!text) return;
    if (await this.act('Commenting', () => alarmsApi.comment(this.id, text))) this.comment.value = '';
  }

  async tick(index, done) {
    await this.act('Updating the checklist', () => alarmsApi.sop(this.id, index, done));
  }

  async retry(run) {
    await this.act(`Retrying ${humanType(run.type)}`, async () => {
      await actionsApi.retry(run.id);
      toast(`${humanType(run.type)} queued again`, 'ok');
      return null;
    });
  }
}

/** "person (87 %) track 12". */
function objectText(o) {
  const confidence = o.confidence != null ? ` (${Math.round(o.confidence * 100)} %)` : '';
  return `${o.class_name}${confidence}${o.track_id != null ? ` track ${o.track_id}` : ''}`;
}

function section(title, ...children) {
  return h('section', { class: 'alarm-section' }, h('h2', {}, title), children);
}
