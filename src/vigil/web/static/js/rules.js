// Rules (#/rules): each rule's trigger, conditions and actions in a line, switched on and off in
// place; manual rules fire from here (optionally for a camera). The editor opens in a drawer
// (#/rules/new, #/rules/{id}/edit). Below: the time profiles and camera groups rules refer to.
// Operators (permission alarms) see the rules and press the manual ones; only administrators
// (manage) are offered changes.

import { cameraGroups, rules as rulesApi, timeProfiles } from './api.js';
import { RuleForm } from './rule-form.js';
import { actionSummary, conditionsSummary, specOf, triggerSummary } from './rule-fields.js';
import { mountSupport } from './rule-support.js';
import { P, session } from './session.js';
import { store } from './store.js';
import { confirmDialog, formatDateTime, h, replace, toast } from './ui.js';

/** Mount the rule list; `form` is "new", a rule id (edit), or undefined. */
export function mount(root, { form } = {}) {
  const list = new RuleList(root);
  let editor = null;
  if (form) {
    editor = new RuleForm(root, form === 'new' ? null : Number(form), {
      onSaved: () => { location.hash = '#/rules'; },
      onClose: () => { location.hash = '#/rules'; },
    });
  }
  return () => {
    list.destroy();
    editor?.destroy();
  };
}

class RuleList {
  constructor(root) {
    this.rules = [];
    this.groups = new Map();
    this.profiles = new Map();
    this.summary = h('span', { class: 'meta', dataset: { testid: 'rule-summary' } });
    this.error = h('div', { class: 'banner error', hidden: true, dataset: { testid: 'rules-error' } });
    this.tbody = h('tbody');
    this.empty = h('div', { class: 'empty', hidden: true }, 'No rules yet. Create the first one.');
    this.support = h('div', { class: 'rule-support' });
    this.manage = session.can(P.MANAGE);
    replace(root, h('div', { class: 'rules-view', dataset: { testid: 'rules-view' } },
      h('div', { class: 'view-header' },
        h('h1', {}, 'Rules'), this.summary, h('span', { class: 'spacer' }),
        session.can(P.ALARMS) ? h('a', { href: '#/alarms', class: 'btn btn-small' }, 'Alarms') : null,
        this.manage ? h('a', { href: '#/rules/new', class: 'btn btn-primary', dataset: { testid: 'add-rule' } }, '+ New rule') : null),
      this.error,
      h('table', { class: 'table', dataset: { testid: 'rule-table' } },
        h('thead', {}, h('tr', {}, ['On', 'Rule', 'When', 'Only if', 'Then', ''].map((t) => h('th', {}, t)))),
        this.tbody),
      this.empty,
      this.support));
    // Time profiles and group changes are the administrator's (the profiles are not even
    // readable without manage).
    this.unmountSupport = this.manage ? mountSupport(this.support, { onChange: () => this.load() }) : () => {};
    this.onCameras = () => this.render();
    store.addEventListener('change', this.onCameras);
    this.load();
  }

  destroy() {
    store.removeEventListener('change', this.onCameras);
    this.unmountSupport();
  }

  async load() {
    try {
      const [rules, groups, profiles] = await Promise.all([
        rulesApi.list(), cameraGroups.list(), this.manage ? timeProfiles.list() : [],
      ]);
      this.rules = rules;
      this.groups = new Map(groups.map((g) => [g.id, g]));
      this.profiles = new Map(profiles.map((p) => [p.id, p]));
      this.error.hidden = true;
    } catch (err) {
      this.error.hidden = false;
      this.error.textContent = `Rules not loaded: ${err.message}`;
    }
    this.render();
  }

  render() {
    const sig = JSON.stringify([this.rules, store.cameras.map((c) => [c.id, c.name])]);
    if (sig === this.sig) return; // camera polls must not wipe a camera picked for a trigger
    this.sig = sig;
    const on = this.rules.filter((r) => r.enabled).length;
    this.summary.textContent = `${this.rules.length} rule${this.rules.length === 1 ? '' : 's'} · ${on} enabled`;
    this.empty.hidden = this.rules.length > 0;
    const lookups = { cameras: new Map(store.cameras.map((c) => [c.id, c])), groups: this.groups, profiles: this.profiles };
    replace(this.tbody, this.rules.map((rule) => this.row(rule, lookups)));
  }

  row(rule, lookups) {
    const toggle = h('input', { type: 'checkbox', checked: rule.enabled, dataset: { testid: 'rule-enabled' }, disabled: !this.manage,
      title: rule.enabled ? 'Enabled: click to disable' : 'Disabled: click to enable',
      onchange: () => this.setEnabled(rule, toggle.checked, toggle) });
    const manual = rule.trigger.kind === 'manual' ? this.triggerControl(rule, lookups) : null;
    return h('tr', { class: rule.enabled ? '' : 'row-disabled', dataset: { testid: 'rule-row', ruleId: rule.id, name: rule.name } },
      h('td', {}, toggle),
      h('td', {}, h('span', { class: 'camera-name', dataset: { testid: 'rule-name' } }, rule.name),
        h('span', { class: 'sub' }, `changed ${formatDateTime(rule.updated_at)}`)),
      h('td', { dataset: { testid: 'rule-trigger' } }, triggerSummary(rule.trigger, lookups)),
      h('td', {}, conditionsSummary(rule.conditions, lookups) || '—'),
      h('td', { dataset: { testid: 'rule-actions' } }, rule.actions.map(actionSummary).join(' · ')),
      h('td', { class: 'actions' }, manual, this.manage ? [
        h('a', { class: 'btn btn-small', href: `#/rules/${rule.id}/edit`, dataset: { testid: 'edit-rule' } }, 'Edit'),
        h('button', { class: 'btn btn-small btn-danger', dataset: { testid: 'remove-rule' }, onclick: () => this.remove(rule) }, 'Delete'),
      ] : null));
  }

  /** The camera picker and button of a manual rule. */
  triggerControl(rule, { cameras }) {
    const limited = [...(rule.trigger.cameras ?? [])];
    const choices = limited.length ? limited.map((id) => cameras.get(id) ?? { id, name: `#${id}` }) : store.cameras;
    const picker = h('select', { class: 'input input-small', dataset: { testid: 'trigger-camera' }, title: 'For which camera' },
      h('option', { value: '' }, 'no camera'), choices.map((c) => h('option', { value: String(c.id) }, c.name)));
    if (limited.length === 1) picker.value = String(limited[0]);
    const button = h('button', { class: 'btn btn-small btn-primary', dataset: { testid: 'trigger-rule' },
      disabled: !rule.enabled, title: rule.enabled ? 'Fire this rule now' : 'Enable the rule first',
      onclick: () => this.fire(rule, picker.value ? Number(picker.value) : null, button) }, rule.trigger.label || 'Trigger');
    return h('span', { class: 'trigger-control' }, picker, button);
  }

  async fire(rule, cameraId, button) {
    button.disabled = true;
    try {
      const result = await rulesApi.trigger(rule.id, { camera_id: cameraId, note: null });
      const message = result.alarm_id ? `“${rule.name}” fired: alarm #${result.alarm_id}` : `“${rule.name}” fired`;
      toast(message, 'ok');
    } catch (err) {
      toast(`Could not fire “${rule.name}”: ${err.message}`, 'error', 8000);
    } finally {
      button.disabled = !rule.enabled;
    }
  }

  async setEnabled(rule, enabled, toggle) {
    try {
      await rulesApi.update(rule.id, { ...specOf(rule), enabled });
      toast(`“${rule.name}” ${enabled ? 'enabled' : 'disabled'}`, 'ok');
    } catch (err) {
      toggle.checked = !enabled;
      toast(`Could not change “${rule.name}”: ${err.message}`, 'error', 8000);
    }
    this.load();
  }

  async remove(rule) {
    const ok = await confirmDialog(`Delete the rule “${rule.name}”? Its alarms stay.`, { ok: 'Delete', danger: true });
    if (!ok) return;
    try {
      await rulesApi.remove(rule.id);
      toast(`“${rule.name}” deleted`, 'ok');
    } catch (err) {
      toast(`Could not delete “${rule.name}”: ${err.message}`, 'error', 8000);
    }
    this.load();
  }
}
