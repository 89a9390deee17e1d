// How alarms look everywhere: priority names and colours, state chips, the moves each state
// allows (mirrors vigil.domain.alarms.TRANSITIONS; the server has the last word).

import { formatDateTime, h } from './ui.js';

export const PRIORITIES = { 1: 'critical', 2: 'high', 3: 'medium', 4: 'low', 5: 'info' };

export const STATES = {
  new: 'New',
  acknowledged: 'Acknowledged',
  in_progress: 'In progress',
  on_hold: 'On hold',
  closed: 'Closed',
};

export const OPEN_STATES = ['new', 'acknowledged', 'in_progress', 'on_hold'];

/** state -> the moves offered, as [target state, button label]. */
export const MOVES = {
  new: [['acknowledged', 'Acknowledge'], ['in_progress', 'Start'], ['closed', 'Close…']],
  acknowledged: [['in_progress', 'Start'], ['on_hold', 'Hold'], ['closed', 'Close…']],
  in_progress: [['on_hold', 'Hold'], ['closed', 'Close…']],
  on_hold: [['in_progress', 'Resume'], ['closed', 'Close…']],
  closed: [],
};

export function priorityBadge(priority, name = PRIORITIES[priority]) {
  return h('span', { class: `prio-badge prio-${priority}`, dataset: { testid: 'alarm-priority', priority } },
    `P${priority}`, name ? h('span', { class: 'prio-name' }, ` ${name}`) : null);
}

export function stateChip(state) {
  return h('span', { class: `state-chip state-${state}`, dataset: { testid: 'alarm-state', state } },
    STATES[state] ?? state);
}

const ACTION_STATUS = { pending: 'Pending', done: 'Done', failed: 'Failed', running: 'Running' };

export function actionStatusChip(status) {
  return h('span', { class: `state-chip action-${status}`, dataset: { testid: 'action-status', status } },
    ACTION_STATUS[status] ?? status);
}

/** The alarm's condition ended (its camera is back) while an operator still has it open. */
export function clearedFlag(at) {
  return h('span', { class: 'flag flag-cleared', dataset: { testid: 'alarm-condition-cleared' },
    title: `Condition cleared ${formatDateTime(at)}: close the alarm when done` }, '✓ condition cleared');
}

/** "line_crossing" -> "line crossing", "camera.offline" -> "camera offline". */
export const humanType = (type) => (type ?? '').replace(/[._]/g, ' ');
