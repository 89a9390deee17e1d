// The mark of a linked site's camera, alarm or event in lists: a small badge with the
// site's name ("north"); nothing for this installation's own.

import { siteOf } from './api.js';
import { h } from './ui.js';

/** The badge of `item`'s site, or null when the item is this installation's. */
export function siteBadge(item) {
  const site = siteOf(item);
  return site ? h('span', { class: 'badge site-badge', title: `From the linked site ${site}`,
    dataset: { testid: 'site-badge', site } }, site) : null;
}
