// The live grid: 1, 4, 9 or 16 tiles, each a live player labelled with the camera's name and
// status. Click a tile to open the camera. More cameras than tiles: pages. Beside it, the live
// event feed (can be hidden). Keys: 1-9 open the camera of that tile, + and - a layout of
// more or fewer tiles, Page Down / Page Up the next or previous page.

import { EventFeed } from './event-feed.js';
import { LivePlayer } from './live-player.js';
import { P, session } from './session.js';
import { store } from './store.js';
import { formatFps, formatResolution, h, isShortcut, replace, statusLabel } from './ui.js';

const LAYOUTS = [1, 4, 9, 16];

export function mount(root) {
  const grid = new Grid(root);
  return () => grid.destroy();
}

class Grid {
  constructor(root) {
    const saved = Number(localStorage.getItem('vigil.layout'));
    this.layout = LAYOUTS.includes(saved) ? saved : 4;
    this.page = 0;
    this.tiles = new Map(); // camera id -> { el, player, label, status, info }
    this.shown = []; // the cameras of the tiles, in order

    this.layoutButtons = LAYOUTS.map((n) => h('button', {
      class: 'btn btn-small', dataset: { testid: `layout-${n}`, layout: n },
      title: `${n} tile${n > 1 ? 's' : ''}`, onclick: () => this.setLayout(n),
    }, layoutIcon(n), String(n)));
    this.pageLabel = h('span', { class: 'page-label', dataset: { testid: 'grid-page' } });
    this.prevButton = h('button', { class: 'btn btn-small', onclick: () => this.setPage(this.page - 1) }, '‹');
    this.nextButton = h('button', { class: 'btn btn-small', onclick: () => this.setPage(this.page + 1) }, '›');
    this.gridEl = h('div', { class: 'grid', dataset: { testid: 'grid' } });
    this.feed = new EventFeed();
    this.feedButton = h('button', { class: 'btn btn-small', dataset: { testid: 'feed-toggle' },
      onclick: () => this.setFeed(this.feed.el.hidden) }, 'Events');
    this.empty = h('div', { class: 'empty', hidden: true }, session.can(P.MANAGE)
      ? ['No cameras yet. ', h('a', { href: '#/cameras/new' }, 'Add a camera'), ' to watch it here.']
      : 'No cameras are open to your account.');

    replace(root, h('div', { class: 'grid-view' },
      h('div', { class: 'view-header' },
        h('h1', {}, 'Live'),
        h('span', { class: 'btn-group', role: 'group', 'aria-label': 'Layout' }, this.layoutButtons),
        h('span', { class: 'spacer' }),
        this.prevButton, this.pageLabel, this.nextButton, this.feedButton),
      this.empty, h('div', { class: 'grid-body' }, this.gridEl, this.feed.el)));
    this.setFeed(localStorage.getItem('vigil.feed') !== 'off');

    this.onStore = () => this.render();
    store.addEventListener('change', this.onStore);
    this.onKey = (e) => this.key(e);
    document.addEventListener('keydown', this.onKey);
    this.render();
  }

  /** The grid's keys; none while typing in a field or with a modifier held. */
  key(e) {
    if (!isShortcut(e)) return;
    const at = LAYOUTS.indexOf(this.layout);
    if (/^[1-9]$/.test(e.key)) {
      const camera = this.shown[Number(e.key) - 1];
      if (camera) location.hash = `#/camera/${camera.id}`;
    } else if (e.key === '+' || e.key === '=') {
      this.setLayout(LAYOUTS[Math.min(LAYOUTS.length - 1, at + 1)]);
    } else if (e.key === '-') {
      this.setLayout(LAYOUTS[Math.max(0, at - 1)]);
    } else if (e.key === 'PageDown' || e.key === 'PageUp') {
      e.preventDefault();
      this.setPage(this.page + (e.key === 'PageDown' ? 1 : -1));
    }
  }

  destroy() {
    document.removeEventListener('keydown', this.onKey);
    store.removeEventListener('change', this.onStore);
    this.feed.destroy();
    for (const tile of this.tiles.values()) tile.player.stop();
    this.tiles.clear();
  }

  setFeed(shown) {
    this.feed.el.hidden = !shown;
    this.feedButton.classList.toggle('active', shown);
    localStorage.setItem('vigil.feed', shown ? 'on' : 'off');
  }

  setLayout(n) {
    this.layout = n;
    localStorage.setItem('vigil.layout', String(n));
    this.page = 0;
    this.render();
  }

  setPage(page) {
    this.page = page;
    this.render();
  }

  render() {
    const cameras = store.cameras;
    const pages = Math.max(1, Math.ceil(cameras.length / this.layout));
    this.page = Math.min(Math.max(0, this.page), pages - 1);
    const shown = cameras.slice(this.page * this.layout, (this.page + 1) * this.layout);
    this.shown = shown;

    for (const b of this.layoutButtons) b.classList.toggle('active', Number(b.dataset.layout) === this.layout);
    this.pageLabel.textContent = `Page ${this.page + 1} / ${pages}`;
    this.prevButton.disabled = this.page === 0;
    this.nextButton.disabled = this.page >= pages - 1;
    this.empty.hidden = !store.loaded || cameras.length > 0;
    this.gridEl.dataset.layout = String(this.layout);
    this.gridEl.style.setProperty('--cols', String(Math.sqrt(this.layout)));

    // Keep the players of cameras still shown; start and stop the others.
    const ids = new Set(shown.map((c) => c.id));
    for (const [id, tile] of this.tiles) {
      if (!ids.has(id)) {
        tile.player.stop();
        this.tiles.delete(id);
      }
    }
    const children = [];
    for (const camera of shown) {
      let tile = this.tiles.get(camera.id);
      if (!tile) {
        tile = makeTile(camera);
        this.tiles.set(camera.id, tile);
        tile.player.start();
      }
      updateTile(tile, camera);
      children.push(tile.el);
    }
    for (let i = shown.length; i < this.layout; i++) {
      children.push(h('div', { class: 'tile tile-empty', dataset: { testid: 'tile-empty' } }, h('span', {}, 'No camera')));
    }
    // Move only what changed, so that playing videos are not re-attached needlessly.
    children.forEach((child, i) => {
      if (this.gridEl.children[i] !== child) this.gridEl.insertBefore(child, this.gridEl.children[i] ?? null);
    });
    while (this.gridEl.children.length > children.length) this.gridEl.lastElementChild.remove();
  }
}

function makeTile(camera) {
  const video = h('video', { muted: true, playsInline: true });
  const overlay = h('div', { class: 'video-overlay', hidden: true, dataset: { testid: 'tile-overlay' } });
  const dot = h('span', { class: 'dot' });
  const name = h('span', { class: 'tile-name', dataset: { testid: 'tile-name' } });
  const status = h('span', { class: 'tile-status', dataset: { testid: 'tile-status' } });
  const info = h('span', { class: 'tile-info' });
  const el = h('div', {
    class: 'tile', tabindex: '0', role: 'link',
    dataset: { testid: 'tile', cameraId: camera.id },
    onclick: () => { location.hash = `#/camera/${camera.id}`; },
    onkeydown: (e) => { if (e.key === 'Enter') location.hash = `#/camera/${camera.id}`; },
  }, video, overlay, h('div', { class: 'tile-label' }, dot, name, status), info);
  const player = new LivePlayer(video, { cameraId: camera.id, overlay, stream: 'sub' });
  return { el, player, dot, name, status, info };
}

function updateTile(tile, camera) {
  const s = camera.health.status;
  tile.el.dataset.status = s;
  tile.el.title = `${camera.name}: open camera`;
  tile.dot.className = `dot status-${s}`;
  tile.name.textContent = camera.name;
  tile.status.textContent = s === 'online' ? '' : statusLabel(s);
  tile.player.setHealth(camera.health);
  tile.info.textContent = s === 'online'
    ? `${formatResolution(camera.health)} · ${formatFps(camera.health.fps)} fps`
    : '';
}

function layoutIcon(n) {
  const side = Math.sqrt(n);
  const icon = h('span', { class: 'layout-icon', style: { '--n': String(side) }, 'aria-hidden': 'true' });
  for (let i = 0; i < n; i++) icon.append(h('i'));
  return icon;
}
