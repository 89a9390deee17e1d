// Administration (permission manage): users (#/admin/users), roles (#/admin/roles), API
// tokens (#/admin/tokens), recorder nodes (#/admin/nodes) and federated sites
// (#/admin/sites) and registers of vehicles (#/admin/registers), as tabs over one page. Every change is audited by the server.

import * as nodes from './admin-nodes.js';
import * as registers from './admin-registers.js';
import * as roles from './admin-roles.js';
import * as sites from './admin-sites.js';
import * as tokens from './admin-tokens.js';
import * as users from './admin-users.js';
import { h, replace } from './ui.js';

const TABS = [
  { key: 'users', label: 'Users', page: users },
  { key: 'roles', label: 'Roles', page: roles },
  { key: 'tokens', label: 'API tokens', page: tokens },
  { key: 'nodes', label: 'Recorder nodes', page: nodes },
  { key: 'sites', label: 'Sites', page: sites },
  { key: 'registers', label: 'Registers', page: registers },
];

/** Mount the page of `tab` ("users", "roles", "tokens", "nodes", "sites" or "registers"). */
export function mount(root, { tab = 'users' } = {}) {
  const current = TABS.find((t) => t.key === tab) ?? TABS[0];
  const body = h('div', { class: 'admin-body' });
  replace(root, h('div', { class: 'admin-view', dataset: { testid: 'admin-view', tab: current.key } },
    h('div', { class: 'view-header' },
      h('h1', {}, 'Administration'),
      h('span', { class: 'btn-group', role: 'tablist' }, TABS.map((t) => h('a', {
        class: `btn btn-small${t === current ? ' active' : ''}`, href: `#/admin/${t.key}`, role: 'tab',
        'aria-selected': String(t === current), dataset: { testid: `admin-tab-${t.key}` },
      }, t.label)))),
    body));
  document.title = `${current.label} · Vigil`;
  return current.page.mount(body);
}
