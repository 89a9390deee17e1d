// The rule editor (#/rules/new, #/rules/{id}/edit): name, trigger with the fields of its kind,
// conditions, and a list of actions with the fields of each type. The server validates; its
// messages appear next to the fields they name ("actions.0.url", "trigger.event_types").
// Each action type's fields are drawn from its schema (GET /api/rules/actions/schema: the
// options model declared once in its module on the server) by schema-form.js.

import { api, cameraGroups, rules as rulesApi, timeProfiles } from './api.js';
import {
  CAMERA_STATUSES, EVENT_TYPE_SUGGESTIONS, TRIGGER_KINDS, alarmTitleFor, fromInput, normalizeField, templateHint, toInput,
} from './rule-fields.js';
import { schemaField, schemaFields } from './schema-form.js';
import { store } from './store.js';
import { h, replace, toast } from './ui.js';

export class RuleForm {
  /** `ruleId` null: a new rule. `onSaved` gets the saved rule. */
  constructor(root, ruleId, { onSaved, onClose } = {}) {
    this.ruleId = ruleId;
    this.onSaved = onSaved;
    this.onClose = onClose;
    this.rule = null;
    this.groups = [];
    this.profiles = [];
    this.slots = new Map(); // field path -> { input, error }
    this.trigger = { kind: 'event' };
    this.actions = [{ type: 'raise_alarm' }];
    this.actionSchemas = {}; // type -> JSON schema of its options
    this.templateFields = [];

    this.formError = h('div', { class: 'banner error', hidden: true, dataset: { testid: 'rule-form-error' } });
    this.body = h('div');
    this.submit = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { testid: 'save-rule' } },
      ruleId ? 'Save' : 'Create rule');
    this.form = h('form', { class: 'rule-form', novalidate: true, dataset: { testid: 'rule-form' },
      onsubmit: (e) => { e.preventDefault(); this.save(); } },
    h('h2', {}, ruleId ? 'Edit rule' : 'New rule'),
    this.formError, this.body,
    h('div', { class: 'form-actions' },
      h('button', { type: 'button', class: 'btn', dataset: { testid: 'cancel-rule' }, onclick: () => this.onClose?.() }, 'Cancel'),
      this.submit));
    this.drawer = h('div', { class: 'drawer-backdrop', onclick: (e) => e.target === this.drawer && this.onClose?.() },
      h('div', { class: 'drawer drawer-wide' }, this.form));
    this.onKey = (e) => { if (e.key === 'Escape') this.onClose?.(); };
    document.addEventListener('keydown', this.onKey);
    root.append(this.drawer);
    this.load();
  }

  destroy() {
    document.removeEventListener('keydown', this.onKey);
    this.drawer.remove();
  }

  async load() {
    try {
      const [groups, profiles, rule, schema, behaviours] = await Promise.all([
        cameraGroups.list(), timeProfiles.list(), this.ruleId ? rulesApi.get(this.ruleId) : null,
        api('/api/rules/actions/schema'),
        api('/api/analytics/behaviours').catch(() => []), // the event types they emit, as suggestions
        store.loaded ? null : store.refresh(), // the camera pickers need the list
      ]);
      const emitted = behaviours.flatMap((b) => b.events ?? []);
      if (emitted.length) this.eventTypes = [...new Set([...emitted, ...EVENT_TYPE_SUGGESTIONS])];
      this.actionSchemas = schema.actions;
      this.templateFields = schema.template_fields;
      this.groups = groups;
      this.profiles = profiles;
      this.rule = rule;
      if (rule) {
        this.trigger = { ...rule.trigger };
        this.actions = rule.actions.map((a) => ({ ...a }));
      }
    } catch (err) {
      this.showError(`Could not load: ${err.message}`);
    }
    this.render();
    this.slots.get('name')?.input.focus();
  }

  // Rendering --------------------------------------------------------------------------------

  render() {
    this.slots.clear();
    const r = this.rule;
    const c = r?.conditions ?? {};
    const kind = h('select', { class: 'input', dataset: { testid: 'field-trigger.kind' },
      onchange: () => {
        const from = this.trigger.kind;
        this.trigger = this.keepCameras({ kind: kind.value });
        this.renderTrigger();
        this.retitle(from);
      } },
    Object.entries(TRIGGER_KINDS).map(([k, d]) => h('option', { value: k }, d.label)));
    kind.value = this.trigger.kind;
    this.triggerBox = h('div', { class: 'rule-trigger' });
    this.actionsBox = h('div', { class: 'rule-actions' });
    const addType = h('select', { class: 'input input-small', dataset: { testid: 'add-action-type' } },
      this.actionTypeOptions());
    const profile = { name: 'time_profile_id', kind: 'select', number: true,
      options: [['', 'Always armed'], ...this.profiles.map((p) => [String(p.id), `${p.name}${p.active_now ? ' (active now)' : ''}`])] };

    replace(this.body,
      this.field('name', { name: 'name', label: 'Name', required: true }, r?.name ?? ''),
      this.field('enabled', { name: 'enabled', label: 'Enabled', kind: 'check' }, r ? r.enabled : true),
      h('fieldset', { class: 'rule-section' }, h('legend', {}, 'When'),
        h('div', { class: 'field' }, h('label', {}, 'Trigger'), kind, this.errorSlot('trigger', kind)),
        this.triggerBox),
      h('fieldset', { class: 'rule-section' }, h('legend', {}, 'Only if'),
        this.field('conditions.time_profile_id', { ...profile, label: 'Time profile' },
          c.time_profile_id == null ? '' : String(c.time_profile_id)),
        h('div', { class: 'field-row' },
          this.field('conditions.count.at_least',
            { name: 'at_least', label: 'Matched at least (times)', kind: 'number', optional: true, min: 2 }, c.count?.at_least ?? ''),
          this.field('conditions.count.within_s',
            { name: 'within_s', label: 'within (s)', kind: 'number', optional: true, step: 'any' }, c.count?.within_s ?? '')),
        this.errorOnly('conditions.count'),
        this.field('conditions.cooldown_s',
          { name: 'cooldown_s', label: 'Cooldown after firing (s)', kind: 'number', step: 'any', default: 0 }, c.cooldown_s ?? 0),
        this.errorOnly('conditions')),
      h('fieldset', { class: 'rule-section' }, h('legend', {}, 'Then'),
        this.actionsBox, this.errorOnly('actions'),
        h('div', { class: 'add-action' }, addType,
          h('button', { type: 'button', class: 'btn btn-small', dataset: { testid: 'add-action' },
            onclick: () => { this.actions.push({ type: addType.value }); this.renderActions(); } }, '+ Add action'))));
    this.renderTrigger();
    this.renderActions();
  }

  /** Switching the trigger kind keeps the cameras picked, where the new kind has them. */
  keepCameras(next) {
    const prev = this.readTrigger();
    if (TRIGGER_KINDS[next.kind].fields.some((f) => f.name === 'cameras')) {
      next.cameras = prev.cameras ?? [];
      next.camera_groups = prev.camera_groups ?? [];
    }
    return next;
  }

  /** Alarm titles left at the old trigger kind's default take the new kind's. */
  retitle(from) {
    const [before, after] = [alarmTitleFor(from), alarmTitleFor(this.trigger.kind)];
    if (before === after) return;
    for (const a of this.actions) if (a.type === 'raise_alarm' && (a.title ?? before) === before) a.title = after;
    this.renderActions();
  }

  renderTrigger() {
    for (const key of [...this.slots.keys()]) if (key.startsWith('trigger.')) this.slots.delete(key);
    const def = TRIGGER_KINDS[this.trigger.kind];
    const withSuggestions = (f) => (f.suggestions && this.eventTypes ? { ...f, suggestions: this.eventTypes } : f);
    replace(this.triggerBox, def.fields.map((f) => this.field(`trigger.${f.name}`, withSuggestions(f), this.trigger[f.name])));
  }

  /** The <option>s of the action types, labelled with their schema's title. */
  actionTypeOptions(current = null) {
    const types = Object.entries(this.actionSchemas);
    return [...types.map(([k, schema]) => h('option', { value: k }, schema.title ?? k)),
      current && !this.actionSchemas[current] ? h('option', { value: current }, `${current} (unknown)`) : null];
  }

  renderActions() {
    for (const key of [...this.slots.keys()]) if (key.startsWith('actions.')) this.slots.delete(key);
    replace(this.actionsBox, this.actions.map((action, i) => {
      const type = h('select', { class: 'input input-small', dataset: { testid: `field-actions.${i}.type` },
        onchange: () => { this.actions[i] = { type: type.value }; this.renderActions(); } },
      this.actionTypeOptions(action.type));
      type.value = action.type;
      const schema = this.actionSchemas[action.type];
      const fields = schemaFields(schema).map(([name, p, required]) => this.actionField(action, i, name, p, required));
      return h('div', { class: 'action-card', dataset: { testid: 'action-card', index: i, type: action.type } },
        h('div', { class: 'action-card-head' }, h('span', { class: 'action-index' }, `${i + 1}.`), type,
          h('span', { class: 'spacer' }),
          h('button', { type: 'button', class: 'btn btn-small btn-danger', dataset: { testid: 'remove-action' },
            disabled: this.actions.length === 1, title: 'A rule needs at least one action',
            onclick: () => { this.actions.splice(i, 1); this.renderActions(); } }, 'Remove')),
        this.errorOnly(`actions.${i}`), schema?.description ? h('div', { class: 'hint' }, schema.description) : null, fields);
    }));
  }

  /** One option of an action, bound to `action` (shown filled with its default, as sent). */
  actionField(action, i, name, p, required) {
    const path = `actions.${i}.${name}`;
    const fallback = action.type === 'raise_alarm' && name === 'title' ? alarmTitleFor(this.trigger.kind) : p.default;
    if (action[name] === undefined && fallback !== undefined && fallback !== null && !p.writeOnly) action[name] = fallback;
    const error = h('div', { class: 'field-error', hidden: true, dataset: { testid: `error-${path}` } });
    const { element, input } = schemaField(name, p, {
      id: `rf-${path.replace(/\./g, '-')}`, testid: `field-${path}`, value: action[name], error, required,
      refs: { camera: store.cameras.map((cam) => [cam.id, cam.name]) },
      placeholder: p.writeOnly && action[`has_${name}`] ? '•••••• stored (unchanged if empty)' : undefined,
      hint: p['x-template'] ? templateHint(this.templateFields) : null,
      onChange: (value) => {
        if (value === undefined) delete action[name];
        else action[name] = value;
        this.setError(path, null);
      },
    });
    this.slots.set(path, { input, error });
    return element;
  }

  /** One labelled input for `path`, filled with `value` (stored form). */
  field(path, f, value) {
    const id = `rf-${path.replace(/\./g, '-')}`;
    const shown = toInput(f, value);
    let input;
    let control;
    switch (f.kind) {
      case 'check':
        input = h('input', { type: 'checkbox', id, checked: shown });
        control = h('div', { class: 'field field-check' }, input, h('label', { for: id }, f.label));
        break;
      case 'multi':
        input = this.multi(f, shown);
        break;
      case 'select':
        input = h('select', { id, class: 'input' }, f.options.map(([v, t]) => h('option', { value: v }, t)));
        input.value = shown;
        break;
      case 'camera':
        input = h('select', { id, class: 'input' }, h('option', { value: '' }, '— the triggering camera —'),
          store.cameras.map((cam) => h('option', { value: String(cam.id) }, cam.name)));
        input.value = shown;
        break;
      case 'textarea': case 'lines': case 'pairs': case 'conditions':
        input = h('textarea', { id, class: 'input', rows: f.kind === 'textarea' ? 3 : 2 });
        input.value = shown;
        break;
      default:
        input = h('input', { id, class: 'input', type: f.type ?? (f.kind === 'number' ? 'number' : 'text'),
          min: f.min, step: f.step, placeholder: f.placeholder, autocomplete: f.type === 'password' ? 'new-password' : 'off' });
        input.value = shown;
    }
    input.dataset.testid = `field-${path}`;
    const error = this.errorSlot(path, input);
    input.addEventListener(f.kind === 'multi' ? 'change' : 'input', () => this.setError(path, null));
    if (control) {
      control.append(error);
      return control;
    }
    const suggestions = f.suggestions
      ? h('div', { class: 'suggestions' }, f.suggestions.map((s) => h('button', { type: 'button', class: 'chip',
        dataset: { testid: 'suggestion', value: s }, onclick: () => addToList(input, s) }, s)))
      : null;
    return h('div', { class: 'field' },
      h('label', { for: id }, f.label, f.required ? h('span', { class: 'req', title: 'required' }, ' *') : null),
      input, error, suggestions, f.hint ? h('div', { class: 'hint' }, f.hint) : null);
  }

  /** Checkboxes for cameras, camera groups or statuses; the container's .value is the list. */
  multi(f, selected) {
    const options = f.options === 'cameras' ? store.cameras.map((c) => [String(c.id), c.name])
      : f.options === 'groups' ? this.groups.map((g) => [String(g.id), g.name])
        : CAMERA_STATUSES;
    const boxes = options.map(([value, text]) => {
      const box = h('input', { type: 'checkbox', value, checked: selected.includes(value) });
      return h('label', { class: 'check-option', dataset: { testid: 'option', value } }, box, text);
    });
    // Ids the server knows that we cannot name (a camera removed since) stay selected.
    const unknown = selected.filter((v) => !options.some(([o]) => o === v));
    const el = h('div', { class: 'multi', tabindex: -1 },
      boxes.length ? boxes : h('span', { class: 'meta' }, f.options === 'groups' ? 'No camera groups yet.' : 'None to choose from.'));
    Object.defineProperty(el, 'value', {
      get: () => [...unknown, ...boxes.map((l) => l.querySelector('input')).filter((b) => b.checked).map((b) => b.value)],
    });
    return el;
  }

  errorSlot(path, input) {
    const error = h('div', { class: 'field-error', hidden: true, dataset: { testid: `error-${path}` } });
    this.slots.set(path, { input, error });
    return error;
  }

  errorOnly(path) {
    return this.errorSlot(path, null);
  }

  setError(path, message) {
    const slot = this.slots.get(path);
    if (!slot) return false;
    slot.error.textContent = message ?? '';
    slot.error.hidden = !message;
    slot.input?.classList.toggle('invalid', Boolean(message));
    slot.input?.setAttribute('aria-invalid', message ? 'true' : 'false');
    return true;
  }

  showError(message) {
    this.formError.textContent = message ?? '';
    this.formError.hidden = !message;
  }

  // Reading ----------------------------------------------------------------------------------

  value(path, f) {
    const input = this.slots.get(path)?.input;
    if (!input) return undefined;
    return fromInput(f, f.kind === 'check' ? input.checked : input.value);
  }

  readTrigger() {
    const def = TRIGGER_KINDS[this.trigger.kind];
    const t = { kind: this.trigger.kind };
    for (const f of def.fields) {
      const v = this.value(`trigger.${f.name}`, f);
      if (v !== undefined && v !== null) t[f.name] = v;
    }
    return t;
  }

  spec() {
    const num = (path, f = { kind: 'number', optional: true }) => this.value(path, f);
    const atLeast = num('conditions.count.at_least');
    const within = num('conditions.count.within_s');
    const profile = this.slots.get('conditions.time_profile_id').input.value;
    const conditions = {
      time_profile_id: profile ? Number(profile) : null,
      count: atLeast === null && within === null ? null : { at_least: atLeast, within_s: within },
    };
    const cooldown = num('conditions.cooldown_s', { kind: 'number' });
    if (cooldown !== undefined) conditions.cooldown_s = cooldown;
    return {
      name: this.slots.get('name').input.value.trim(),
      enabled: this.slots.get('enabled').input.checked,
      trigger: this.readTrigger(),
      conditions,
      actions: this.actions.map((a) => this.withoutFlags(a)),
    };
  }

  /** An action without the ``has_<secret>`` flags the API adds (they are not options). */
  withoutFlags(action) {
    const secrets = schemaFields(this.actionSchemas[action.type]).filter(([, p]) => p.writeOnly).map(([n]) => `has_${n}`);
    return Object.fromEntries(Object.entries(action).filter(([k]) => !secrets.includes(k)));
  }

  // Saving -----------------------------------------------------------------------------------

  async save() {
    for (const path of this.slots.keys()) this.setError(path, null);
    this.showError(null);
    this.submit.disabled = true;
    try {
      const spec = this.spec();
      const saved = this.ruleId ? await rulesApi.update(this.ruleId, spec) : await rulesApi.create(spec);
      toast(`Rule “${saved.name}” ${this.ruleId ? 'saved' : 'created'}`, 'ok');
      this.onSaved?.(saved);
    } catch (err) {
      this.placeErrors(err);
    } finally {
      this.submit.disabled = false;
    }
  }

  placeErrors(err) {
    const unplaced = [];
    let first = null;
    const fields = Object.entries(err.fields ?? {});
    if (err.status === 409 && /name/i.test(err.message) && !fields.length) fields.push(['name', err.message]);
    for (const [raw, message] of fields) {
      let text = message.replace(/^Value error, /, '');
      let path = normalizeField(raw, Object.keys(this.actionSchemas));
      // Rule-level checks name the field in their message: "actions.0.title: unknown...".
      const named = /^((?:actions|trigger|conditions)\.[\w.]+): (.*)$/s.exec(text);
      if (named && (path === '' || path === 'body')) [, path, text] = named;
      const placed = this.placeAt(path, text);
      if (placed) first ??= placed;
      else unplaced.push(raw && raw !== 'body' ? `${raw}: ${text}` : text);
    }
    (first?.input ?? first?.error)?.scrollIntoView?.({ block: 'center' });
    first?.input?.focus?.();
    if (!fields.length || unplaced.length) this.showError(unplaced.length ? unplaced.join('; ') : err.message);
  }

  /** Show a message at `path` or its nearest named parent ("actions.0.to.1" -> "actions.0.to"). */
  placeAt(path, message) {
    const parts = path.split('.');
    while (parts.length) {
      const key = parts.join('.');
      if (this.setError(key, message)) return this.slots.get(key);
      parts.pop();
    }
    return null;
  }
}

function addToList(input, value) {
  const items = input.value.split(',').map((s) => s.trim()).filter(Boolean);
  if (!items.includes(value)) items.push(value);
  input.value = items.join(', ');
  input.dispatchEvent(new Event('input'));
}
