// Recorder nodes (#/admin/nodes): each node's state (alive or down, its last heartbeat, the
// cameras it records, capacity, CPUs, free disk) with Drain / Undrain. Draining moves a
// node's cameras to the other nodes and gives it no new ones; cameras pinned to it stay
// (pin or unpin a camera in its settings: Cameras → Edit → Recorder node). Refreshed every
// few seconds, as heartbeats and placement move on by themselves.

import { errorBanner } from './admin-kit.js';
import { nodes as nodesApi } from './api.js';
import { store } from './store.js';
import { confirmDialog, formatAgo, formatBytes, h, replace, toast } from './ui.js';

const REFRESH_MS = 3000;

export function mount(root) {
  const page = new NodesPage(root);
  return () => page.destroy();
}

class NodesPage {
  constructor(root) {
    this.nodes = [];
    this.loaded = false;
    this.summary = h('span', { class: 'meta', dataset: { testid: 'node-summary' } });
    this.error = errorBanner('nodes-error');
    this.tbody = h('tbody');
    this.empty = h('div', { class: 'empty', hidden: true },
      'No recorder node has registered yet: start one with “vigil recorder --node NAME”.');
    replace(root,
      h('div', { class: 'admin-toolbar' }, this.summary), this.error,
      h('table', { class: 'table', dataset: { testid: 'node-table' } },
        h('thead', {}, h('tr', {}, ['Node', 'State', 'Cameras', 'Capacity', 'CPUs', 'Free disk', '']
          .map((t) => h('th', {}, t)))),
        this.tbody),
      this.empty);
    this.onCameras = () => this.render();
    store.addEventListener('change', this.onCameras); // camera names
    this.timer = setInterval(() => this.load(), REFRESH_MS);
    this.load();
  }

  destroy() {
    clearInterval(this.timer);
    store.removeEventListener('change', this.onCameras);
  }

  async load() {
    try {
      this.nodes = await nodesApi.list();
      this.loaded = true;
      this.error.show(null);
    } catch (err) {
      this.error.show(`Recorder nodes not loaded: ${err.message}`);
    }
    this.render();
  }

  render() {
    const alive = this.nodes.filter((n) => n.alive).length;
    const draining = this.nodes.filter((n) => n.draining).length;
    this.summary.textContent = [`${this.nodes.length} node${this.nodes.length === 1 ? '' : 's'}`,
      `${alive} alive`, ...(draining ? [`${draining} draining`] : [])].join(' · ');
    this.empty.hidden = !this.loaded || this.nodes.length > 0;
    replace(this.tbody, this.nodes.map((n) => this.row(n)));
  }

  row(n) {
    const names = n.cameras.map((id) => store.get(id)?.name ?? `#${id}`);
    return h('tr', { class: n.alive ? '' : 'row-disabled',
      dataset: { testid: 'node-row', name: n.name, alive: String(n.alive), draining: String(n.draining) } },
    h('td', {}, h('span', { class: 'camera-name' }, n.name), h('code', { class: 'sub url' }, n.media_url)),
    h('td', { dataset: { testid: 'node-state' } },
      h('span', { class: `badge status-${n.alive ? 'online' : 'offline'}` }, n.alive ? 'Alive' : 'Down'),
      n.draining ? [' ', h('span', { class: 'badge status-connecting', dataset: { testid: 'node-draining' } }, 'Draining')] : null,
      h('span', { class: 'sub', title: new Date(n.heartbeat_at).toLocaleString() }, `heartbeat ${formatAgo(n.heartbeat_at)}`)),
    h('td', { dataset: { testid: 'node-cameras' } }, String(n.cameras.length),
      names.length ? h('span', { class: 'sub' }, names.join(', ')) : null),
    h('td', { class: 'num' }, String(n.capacity)),
    h('td', { class: 'num' }, String(n.cpu_count)),
    h('td', { class: 'num' }, formatBytes(n.free_disk_bytes)),
    h('td', { class: 'actions' },
      h('button', { class: `btn btn-small${n.draining ? '' : ' btn-danger'}`, dataset: { testid: 'toggle-drain' },
        title: n.draining ? 'Let it take cameras again' : 'Move its cameras to the other nodes',
        onclick: () => this.setDraining(n, !n.draining) }, n.draining ? 'Undrain' : 'Drain')));
  }

  async setDraining(n, draining) {
    if (draining && !await confirmDialog(
      `Drain ${n.name}? Its cameras move to the other nodes (each with a short gap in its recording) `
      + 'and it gets no new ones. Cameras pinned to it stay.', { ok: 'Drain', danger: true })) return;
    try {
      await nodesApi.update(n.name, { draining });
      toast(draining ? `${n.name} draining: its cameras move to the other nodes` : `${n.name} takes cameras again`, 'ok');
    } catch (err) {
      toast(`Could not change ${n.name}: ${err.message}`, 'error', 8000);
    }
    await this.load();
  }
}
