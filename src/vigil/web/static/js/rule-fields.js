// What a rule is made of, for the form and the list: trigger kinds with their fields
// (mirroring vigil.domain.rules; the server validates), how a field's value goes to and from
// its input, and one-line summaries. Action types are not here: the form draws them from the
// server's schemas (GET /api/rules/actions/schema, see schema-form.js).

export const EVENT_TYPE_SUGGESTIONS = [
  'line_crossing', 'intrusion', 'loitering', 'running', 'crowding', 'left_object',
  'illegal_dumping', 'parked_vehicle', 'plate.read', 'watchlist.hit', 'vehicle_speed',
  'wrong_way', 'traffic_counts', 'camera.tampering',
];
export const CAMERA_STATUSES = [
  ['offline', 'Offline'], ['storage_full', 'Storage full'], ['tampering', 'Tampering'],
  ['online', 'Online'], ['connecting', 'Connecting'], ['disabled', 'Disabled'],
];

// An alarm's title when the rule does not give one (vigil.domain.rules): camera status alarms
// say which camera and what happened, "Camera Gate offline".
const ALARM_TITLES = { camera_status: 'Camera {camera} {status}' };
const ALARM_TITLE = '{rule} on {camera}';

/** The default alarm title for a trigger kind. */
export const alarmTitleFor = (kind) => ALARM_TITLES[kind] ?? ALARM_TITLE;

// Field kinds: text, textarea, number, select, check, list (comma-separated), lines (one a
// line), pairs ("key: value" a line), conditions ("path op value" a line: an event's attribute
// conditions), multi (checkboxes; options from the form's context), camera (one camera or
// none).
const cams = { name: 'cameras', label: 'Cameras', kind: 'multi', options: 'cameras', hint: 'None ticked: every camera.' };
const groups = { name: 'camera_groups', label: 'Camera groups', kind: 'multi', options: 'groups' };

export const TRIGGER_KINDS = {
  event: {
    label: 'Event (analytics or any event type)',
    fields: [
      { name: 'event_types', label: 'Event types', kind: 'list', required: true, suggestions: EVENT_TYPE_SUGGESTIONS,
        hint: 'Comma-separated; shell patterns allowed (access.*).' },
      cams, groups,
      { name: 'zones', label: 'Zones or lines', kind: 'list', hint: 'Comma-separated; empty: any.' },
      { name: 'classes', label: 'Object classes', kind: 'list', hint: 'person, car, bicycle… empty: any.' },
      { name: 'min_count', label: 'At least this many objects', kind: 'number', min: 1, optional: true },
      { name: 'attributes', label: 'Attributes must match', kind: 'conditions',
        hint: 'One a line: still_s >= 30 · brought_by.class_name = person · plate like CA*AB · plate in CA1234AB, PB5678 · colour exists · "quoted" keeps a number as text.' },
    ],
  },
  camera_status: {
    label: 'Camera status (offline, tampering…)',
    fields: [
      { name: 'statuses', label: 'Statuses', kind: 'multi', options: 'statuses', required: true },
      cams, groups,
    ],
  },
  input: {
    label: 'External input (MQTT, webhook, access control)',
    fields: [
      { name: 'source', label: 'Source', kind: 'select', default: 'mqtt',
        options: [['mqtt', 'MQTT message'], ['webhook', 'HTTP webhook'], ['access_control', 'Access control']] },
      { name: 'name', label: 'Topic filter, hook name or access event', required: true,
        hint: 'MQTT: sensors/+/alarm · webhook: the {name} in /api/inputs/webhook/{name} · access: door_forced' },
      { name: 'match', label: 'Payload must match', kind: 'pairs', hint: 'One “field: value” a line; numbers and true/false are typed.' },
    ],
  },
  manual: {
    label: 'Manual (an operator presses the rule’s button)',
    fields: [{ name: 'label', label: 'Button label', default: 'Trigger' }, cams, groups],
  },
};

/** The hint under a template field: the placeholders it may use (from the server). */
export function templateHint(fields) {
  return fields.length ? `Placeholders: ${fields.map((f) => `{${f}}`).join(' ')}` : null;
}

/** A field's stored value as its input shows it (a string, or a boolean / list for check / multi). */
export function toInput(field, value) {
  const v = value ?? field.default;
  switch (field.kind) {
    case 'check': return Boolean(v);
    case 'multi': return (v ?? []).map(String);
    case 'list': return (v ?? []).join(', ');
    case 'lines': return (v ?? []).join('\n');
    case 'pairs': return Object.entries(v ?? {}).map(([k, x]) => `${k}: ${x}`).join('\n');
    case 'conditions': return (v ?? []).map(conditionLine).join('\n');
    default: return v === null || v === undefined ? '' : String(v);
  }
}

/** An input's value as the API takes it; undefined leaves the field out (server default). */
export function fromInput(field, raw) {
  switch (field.kind) {
    case 'check': return Boolean(raw);
    case 'multi': return field.options === 'statuses' ? raw : raw.map(Number);
    case 'list': return raw.split(',').map((s) => s.trim()).filter(Boolean);
    case 'lines': return raw.split('\n').map((s) => s.trim()).filter(Boolean);
    case 'pairs': return Object.fromEntries(raw.split('\n').map((line) => line.trim()).filter(Boolean).map((line) => {
      const i = line.search(/[:=]/);
      const key = (i < 0 ? line : line.slice(0, i)).trim();
      const value = i < 0 ? '' : line.slice(i + 1).trim();
      return [key, field.text ? value : typed(value)];
    }));
    case 'conditions': return raw.split('\n').map((s) => s.trim()).filter(Boolean).map(parseCondition);
    case 'number': case 'camera': {
      if (raw.trim() === '') return field.optional || field.kind === 'camera' ? null : undefined;
      const n = Number(raw);
      return Number.isNaN(n) ? raw : n; // let the server say what is wrong with it
    }
    case 'select': return field.number ? Number(raw) : raw;
    default: {
      if (raw === '' && field.optional) return null;
      return raw;
    }
  }
}

// An attribute condition's operator as written in the form, and back (vigil.domain.rules
// AttributeCondition); "missing" is "exists" with false.
const OPERATORS = { '=': 'eq', '!=': 'ne', '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge',
  in: 'in', like: 'like', contains: 'contains', exists: 'exists', missing: 'exists' };
const SYMBOLS = Object.fromEntries(Object.entries(OPERATORS).filter(([w]) => w !== 'missing').map(([w, op]) => [op, w]));
const SYMBOLIC = /^([^\s=!<>]+)\s*(!=|<=|>=|=|<|>)\s*(.*)$/;
const WORDED = /^(\S+)\s+(in|like|contains)\s+(.*)$/i;
const PRESENCE = /^(\S+)\s+(exists|missing)$/i;

/** "still_s >= 30" as { path, op, value }; a line that is not one goes to the server with
 * no operator, so that the server's message lists the operators. */
export function parseCondition(line) {
  const presence = PRESENCE.exec(line);
  if (presence) return { path: presence[1], op: 'exists', value: presence[2].toLowerCase() === 'exists' };
  const m = SYMBOLIC.exec(line) ?? WORDED.exec(line);
  if (!m) return { path: line, op: '?', value: '' };
  const op = OPERATORS[m[2].toLowerCase()];
  const text = m[3].trim();
  if (op === 'in') return { path: m[1], op, value: text.split(',').map((s) => literal(s.trim())) };
  if (op === 'like') return { path: m[1], op, value: unquoted(text) };
  return { path: m[1], op, value: literal(text) };
}

/** { path, op, value } as the form writes it. */
export function conditionLine(c) {
  if (c.op === 'exists') return `${c.path} ${c.value ? 'exists' : 'missing'}`;
  const shown = (v) => (typeof v === 'string' && typed(v) !== v ? `"${v}"` : String(v));
  const value = c.op === 'in' ? c.value.map(shown).join(', ') : shown(c.value);
  return `${c.path} ${SYMBOLS[c.op] ?? c.op} ${value}`;
}

const unquoted = (text) => (/^".*"$/.test(text) ? text.slice(1, -1) : text);
const literal = (text) => (/^".*"$/.test(text) ? text.slice(1, -1) : typed(text));

function typed(value) {
  if (/^(true|false)$/.test(value)) return value === 'true';
  if (value !== '' && !Number.isNaN(Number(value))) return Number(value);
  return value;
}

/**
 * A 422 field ("actions.0.webhook.url", "trigger.event.event_types") as the form names it
 * ("actions.0.url", "trigger.event_types"): the server puts the type's tag in the path.
 * `actionTypes`: the known action types.
 */
export function normalizeField(field, actionTypes = []) {
  const parts = field.split('.');
  if (parts[0] === 'body') parts.shift();
  if (parts[0] === 'trigger' && parts[1] in TRIGGER_KINDS && parts.length > 2) parts.splice(1, 1);
  if (parts[0] === 'actions' && /^\d+$/.test(parts[1] ?? '') && actionTypes.includes(parts[2])) parts.splice(2, 1);
  return parts.join('.');
}

/** The RuleSpec of a rule as the API returned it (for PUT): no ids, stamps, has_secret. */
export function specOf(rule) {
  return {
    name: rule.name,
    enabled: rule.enabled,
    trigger: rule.trigger,
    conditions: rule.conditions,
    // has_<secret> flags are shown, not options (a secret left null keeps the stored one).
    actions: rule.actions.map((action) => Object.fromEntries(Object.entries(action).filter(([k]) => !/^has_/.test(k)))),
  };
}

// Summaries for the rule list -----------------------------------------------------------------

function names(ids, lookup) {
  return ids.map((id) => lookup.get(id)?.name ?? `#${id}`).join(', ');
}

/** "line_crossing, intrusion · cameras Gate · zone north · person · ≥ 3". */
export function triggerSummary(t, { cameras = new Map(), groups = new Map() } = {}) {
  const where = [
    t.cameras?.length ? `cameras ${names(t.cameras, cameras)}` : null,
    t.camera_groups?.length ? `groups ${names(t.camera_groups, groups)}` : null,
  ];
  switch (t.kind) {
    case 'event':
      return [t.event_types.join(', '), ...where, t.zones?.length ? `zones ${t.zones.join(', ')}` : null,
        t.classes?.length ? t.classes.join(', ') : null, t.min_count ? `≥ ${t.min_count}` : null,
        ...(t.attributes ?? []).map(conditionLine)].filter(Boolean).join(' · ');
    case 'camera_status':
      return [`camera ${t.statuses.join(', ')}`, ...where].filter(Boolean).join(' · ');
    case 'input': {
      const src = { mqtt: 'MQTT', webhook: 'webhook', access_control: 'access' }[t.source] ?? t.source;
      const match = Object.entries(t.match ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
      return `${src} ${t.name}${match ? ` (${match})` : ''}`;
    }
    case 'manual':
      return ['manual', ...where].filter(Boolean).join(' · ');
    default:
      return t.kind;
  }
}

export function conditionsSummary(c, { profiles = new Map() } = {}) {
  return [
    c?.time_profile_id ? `while ${profiles.get(c.time_profile_id)?.name ?? `profile #${c.time_profile_id}`}` : null,
    c?.count ? `${c.count.at_least}× within ${c.count.within_s} s` : null,
    c?.cooldown_s ? `cooldown ${c.cooldown_s} s` : null,
  ].filter(Boolean).join(' · ');
}

export function actionSummary(a) {
  switch (a.type) {
    case 'raise_alarm': return `alarm P${a.priority} ${a.category}`;
    case 'record': return `record −${a.pre_s}/+${a.post_s} s`;
    case 'mqtt_publish': return `MQTT ${a.topic}`;
    case 'webhook': return `webhook ${hostOf(a.url)}`;
    case 'email': return `e-mail ${a.to.join(', ')}`;
    case 'signage': return `sign ${a.via}`;
    case 'web_push': return 'push';
    default: return a.type;
  }
}

function hostOf(url) {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
