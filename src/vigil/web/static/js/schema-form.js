// Forms from the server's JSON schemas (pydantic's model_json_schema): detector and motion
// options, behaviours (GET /api/analytics/behaviours) and rule actions
// (GET /api/rules/actions/schema) are all drawn by `schemaField`, so an option declared once on
// the server (its type, default, bounds, title, description) needs nothing in the client.
//
// What a property becomes: boolean -> checkbox; number/integer -> number input (min, max, step
// from the bounds); enum / Literal -> select (labels from "x-labels"); array of an enum, or
// of zones or lines (items' "x-widget"), -> checkboxes; array of strings -> one item a line ("x-widget": "list": comma-separated);
// object of strings -> "key: value" lines; string -> text ("x-widget": "textarea" -> textarea,
// "writeOnly" -> password). "x-widget" zone / line / camera -> a select of the names or ids the
// caller gives in `refs`. "X | None" (anyOf with null) is X, left empty for null.

import { h } from './ui.js';

/** The editable properties of an object schema, in order: [name, property, required]. */
export function schemaFields(schema, skip = []) {
  const required = new Set(schema?.required ?? []);
  return Object.entries(schema?.properties ?? {})
    .filter(([name]) => name !== 'type' && !skip.includes(name))
    .map(([name, prop]) => [name, resolve(prop, schema), required.has(name)]);
}

/** A property with its $ref followed and "X | None" unwrapped (nullable: true). */
export function resolve(prop, root) {
  let p = prop ?? {};
  if (p.$ref) p = { ...lookup(root, p.$ref), ...withoutRef(p) };
  if (Array.isArray(p.anyOf)) {
    const others = p.anyOf.filter((x) => x.type !== 'null');
    if (others.length === 1 && others.length < p.anyOf.length) {
      const { anyOf: _, ...outer } = p;
      p = { ...resolve(others[0], root), ...outer, nullable: true };
    }
  }
  if (p.type === 'array' && p.items) p = { ...p, items: resolve(p.items, root) };
  return p;
}

function lookup(root, ref) {
  return ref.replace(/^#\//, '').split('/').reduce((node, key) => node?.[key], root) ?? {};
}

function withoutRef(p) {
  const { $ref: _, ...rest } = p;
  return rest;
}

/** What input a property gets (see the top of this file). */
export function widgetOf(p) {
  if (['zone', 'line', 'camera'].includes(p['x-widget'])) return p['x-widget'];
  if (p.enum || p.const !== undefined) return 'select';
  if (p.type === 'boolean') return 'check';
  if (p.type === 'number' || p.type === 'integer') return 'number';
  if (p.type === 'array') {
    if (p.items?.enum || ['zone', 'line'].includes(p.items?.['x-widget'])) return 'multi';
    return p['x-widget'] === 'list' ? 'list' : 'lines';
  }
  if (p.type === 'object') return 'pairs';
  if (p['x-widget'] === 'textarea') return 'textarea';
  return p.writeOnly ? 'password' : 'text';
}

/**
 * One labelled input for the property `name`.
 *
 * opts: value (the current one; undefined: the server's default), onChange(value) with
 * undefined meaning "leave it to the server's default", id, testid (data-testid of the input),
 * error (an element placed under the input), refs ({ zone: [names], line: [names], camera:
 * [[id, name]] }), placeholder (overrides the default shown), label, hint (added to the
 * description), required (marks it).
 * Returns { element, input }.
 */
export function schemaField(name, p, opts = {}) {
  const widget = widgetOf(p);
  const id = opts.id ?? `sf-${name}`;
  const label = opts.label ?? p.title ?? name;
  const hintText = [p.description, opts.hint].filter(Boolean).join(' ');
  const hint = hintText ? h('div', { class: 'hint' }, hintText) : null;
  const change = (v) => opts.onChange?.(v);
  const value = opts.value;
  let input;
  if (widget === 'check') {
    input = h('input', { type: 'checkbox', id, checked: Boolean(value ?? p.default),
      onchange: () => change(input.checked) });
    input.dataset.testid = opts.testid ?? `field-${name}`;
    const element = h('div', { class: 'field' },
      h('div', { class: 'field-check' }, input, h('label', { for: id }, label)), hint, opts.error);
    return { element, input };
  }
  if (widget === 'select' || ['zone', 'line', 'camera'].includes(widget)) {
    const choices = choicesOf(p, widget, opts.refs);
    const empty = emptyChoice(p, widget, opts.required);
    // A value that is not among the choices (a zone no longer drawn) stays visible.
    const unknown = value !== undefined && value !== null && !choices.some(([v]) => v === value)
      ? [[value, `${value} (${widget === 'zone' || widget === 'line' ? 'not drawn' : 'unknown'})`]] : [];
    const all = [...(empty ? [[null, empty]] : []), ...choices, ...unknown];
    const key = (v) => (v === null || v === undefined ? '' : String(v)); // option values are text
    input = h('select', { class: 'input', id,
      onchange: () => change(all.find(([v]) => key(v) === input.value)?.[0] ?? undefined) },
    all.map(([v, text]) => h('option', { value: key(v) }, text)));
    input.value = key(value ?? (widget === 'select' ? p.default : null));
  } else if (widget === 'multi') {
    const chosen = value ?? p.default ?? [];
    const labels = p.items['x-labels'] ?? p['x-labels'] ?? {};
    // A list of zones or lines offers the drawn ones (and keeps a chosen one no longer drawn).
    const drawn = p.items.enum ?? opts.refs?.[p.items['x-widget']] ?? [];
    const options = [...drawn, ...chosen.filter((v) => !drawn.includes(v))];
    const boxes = options.map((v) => h('input', { type: 'checkbox', value: String(v), checked: chosen.includes(v) }));
    input = h('div', { class: 'multi', id, tabindex: -1 }, options.map((v, i) => h('label',
      { class: 'check-option', dataset: { testid: 'option', value: String(v) } }, boxes[i], labels[String(v)] ?? String(v))));
    for (const box of boxes) box.addEventListener('change', () => change(options.filter((_, i) => boxes[i].checked)));
  } else if (widget === 'number') {
    input = h('input', { class: 'input', id, type: 'number',
      min: p.minimum ?? p.exclusiveMinimum, max: p.maximum ?? p.exclusiveMaximum,
      step: p.multipleOf ?? (p.type === 'integer' ? 1 : 'any'),
      placeholder: opts.placeholder ?? p.default ?? '', value: value ?? '',
      oninput: () => {
        const n = Number(input.value);
        change(input.value.trim() === '' ? undefined : Number.isNaN(n) ? input.value : n); // the server says what is wrong
      } });
  } else if (['lines', 'list', 'pairs', 'textarea'].includes(widget)) {
    const shown = widget === 'lines' ? (value ?? []).join('\n')
      : widget === 'list' ? (value ?? []).join(', ')
        : widget === 'pairs' ? Object.entries(value ?? {}).map(([k, x]) => `${k}: ${x}`).join('\n')
          : value ?? '';
    const attrs = { class: 'input', id, placeholder: opts.placeholder ?? (typeof p.default === 'string' ? p.default : ''),
      oninput: () => change(parse(widget, p, input.value)) };
    input = widget === 'list' ? h('input', { ...attrs, type: 'text' }) : h('textarea', { ...attrs, rows: widget === 'textarea' ? 3 : 2 });
    input.value = shown;
  } else {
    input = h('input', { class: 'input', id, type: widget === 'password' ? 'password' : 'text',
      autocomplete: widget === 'password' ? 'new-password' : 'off',
      placeholder: opts.placeholder ?? p.examples?.[0] ?? p.default ?? '', value: value ?? '',
      oninput: () => change(input.value === '' ? undefined : input.value) });
  }
  input.dataset.testid = opts.testid ?? `field-${name}`;
  const element = h('div', { class: 'field' },
    h('label', { for: id }, label, opts.required ? h('span', { class: 'req', title: 'required' }, ' *') : null),
    input, opts.error, hint);
  return { element, input };
}

function choicesOf(p, widget, refs = {}) {
  if (widget === 'zone' || widget === 'line') return (refs[widget] ?? []).map((n) => [n, n]);
  if (widget === 'camera') return (refs.camera ?? []).map(([v, text]) => [v, text]);
  const labels = p['x-labels'] ?? {};
  return (p.enum ?? [p.const]).map((v) => [v, labels[String(v)] ?? String(v)]);
}

function emptyChoice(p, widget, required) {
  if (widget === 'zone') return p.nullable ? '— whole image —' : '— choose a zone —';
  if (widget === 'line') return '— choose a line —';
  if (widget === 'camera') return '— the triggering camera —';
  return p.nullable || (!required && p.default === undefined) ? '—' : null;
}

function parse(widget, p, raw) {
  if (widget === 'textarea') return raw === '' ? undefined : raw;
  if (widget === 'list') return raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (widget === 'lines') return raw.split('\n').map((s) => s.trim()).filter(Boolean);
  const text = p.additionalProperties?.type === 'string';
  return Object.fromEntries(raw.split('\n').map((line) => line.trim()).filter(Boolean).map((line) => {
    const i = line.search(/[:=]/);
    const key = (i < 0 ? line : line.slice(0, i)).trim();
    const v = i < 0 ? '' : line.slice(i + 1).trim();
    return [key, text ? v : typed(v)];
  }));
}

function typed(value) {
  if (/^(true|false)$/.test(value)) return value === 'true';
  if (value !== '' && !Number.isNaN(Number(value))) return Number(value);
  return value;
}
