// The REST API of the Vigil server: one fetch wrapper that turns error responses into
// ApiError (with the server's message and, for validation errors, the fields at fault),
// and small functions per resource. URLs for media (live, playback, export) are built here.

/** An API call that failed: `message` is what the server said, `fields` maps a field to
 * its validation message (422 responses). */
export class ApiError extends Error {
  constructor(status, message, fields = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.fields = fields;
  }
}

/** Read an error response as { message, fields }, whatever shape it has. */
export async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy's error page, say
  }
  const fields = {};
  for (const e of body?.errors ?? []) {
    fields[e.field] = fields[e.field] ? `${fields[e.field]}; ${e.message}` : e.message;
  }
  let message = typeof body?.detail === 'string' ? body.detail : null;
  if (!message && Array.isArray(body?.detail)) message = body.detail.map((d) => d.msg).join('; ');
  if (!message) message = `${response.status} ${response.statusText || 'request failed'}`;
  return new ApiError(response.status, message, fields);
}

/** Call the API; resolves to the parsed JSON (null for 204), rejects with ApiError. */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const init = { method, signal, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, `the server cannot be reached (${err.message})`);
  }
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  return response.json();
}

export const cameras = {
  list: (opts) => api('/api/cameras', opts),
  get: (id, opts) => api(`/api/cameras/${id}`, opts),
  create: (body) => api('/api/cameras', { method: 'POST', body }),
  update: (id, body) => api(`/api/cameras/${id}`, { method: 'PATCH', body }),
  remove: (id) => api(`/api/cameras/${id}`, { method: 'DELETE' }),
  timeline: (id, start, end, opts) =>
    api(`/api/cameras/${id}/timeline?${times({ start, end })}`, opts),
};

export const nodes = { list: (opts) => api('/api/nodes', opts) };

/** A camera's analytics configuration (zones, lines, behaviours) and the analytics' state. */
export const analytics = {
  get: (id, opts) => api(`/api/cameras/${id}/analytics`, opts),
  save: (id, body) => api(`/api/cameras/${id}/analytics`, { method: 'PUT', body }),
  status: (opts) => api('/api/analytics/status', opts),
  detectors: (opts) => api('/api/analytics/detectors', opts),
};

/** The latest analysed (or live) frame of a camera as JPEG. */
export const snapshotUrl = (id) => `/api/cameras/${id}/snapshot.jpg`;

/** WebSocket URL of a camera's live stream; stream 'sub' is the lighter one for grids
 * (the server falls back to the main stream when the camera has no sub-stream). */
export function liveUrl(id, stream = 'main') {
  return wsUrl(`/api/cameras/${id}/live?stream=${stream}`);
}

/** WebSocket URL of the event stream: camera status changes and alarm changes by default. */
export function eventsUrl(topics = ['cameras', 'alarms']) {
  return wsUrl(`/api/events?topics=${topics.join(',')}`);
}

/** WebSocket URL of one camera's analytics: its boxes (analytics.frame) and status. */
export function analyticsUrl(cameraId) {
  return wsUrl(`/api/events?topics=analytics&camera=${cameraId}`);
}

/** A query string from an object, leaving out empty values. */
export function query(params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === '') continue;
    q.set(k, v instanceof Date ? v.toISOString() : String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

const post = (path, body) => api(path, { method: 'POST', body });

export const alarms = {
  /** { total, items } sorted by priority, then newest first. */
  list: (params, opts) => api(`/api/alarms${query(params)}`, opts),
  get: (id, opts) => api(`/api/alarms/${id}`, opts),
  transition: (id, state, operator, reason = null) =>
    post(`/api/alarms/${id}/transition`, { state, operator, reason }),
  assign: (id, owner, operator) => post(`/api/alarms/${id}/assign`, { owner, operator }),
  comment: (id, author, text) => post(`/api/alarms/${id}/comments`, { author, text }),
  sop: (id, index, done, operator) => post(`/api/alarms/${id}/sop/${index}`, { done, operator }),
  stats: (params, opts) => api(`/api/alarms/stats${query(params)}`, opts),
};

/** Stored events, newest first (since, until, camera_id, type, limit). */
export const events = { list: (params, opts) => api(`/api/events${query(params)}`, opts) };

export const actions = {
  list: (params, opts) => api(`/api/actions${query(params)}`, opts),
  /** Queue a failed run again (fresh attempts); `operator` is named in the alarm's history. */
  retry: (id, operator) => post(`/api/actions/${id}/retry${query({ operator })}`),
};

/** CRUD on a collection at `base` (rules, time profiles, camera groups). */
function resource(base) {
  return {
    list: (opts) => api(base, opts),
    get: (id, opts) => api(`${base}/${id}`, opts),
    create: (body) => post(base, body),
    update: (id, body) => api(`${base}/${id}`, { method: 'PUT', body }),
    remove: (id) => api(`${base}/${id}`, { method: 'DELETE' }),
  };
}

export const rules = {
  ...resource('/api/rules'),
  /** Fire a manual rule: { event_id, alarm_id }. */
  trigger: (id, body) => post(`/api/rules/${id}/trigger`, body),
};
export const timeProfiles = resource('/api/time-profiles');
export const cameraGroups = resource('/api/camera-groups');

export const push = {
  key: () => api('/api/push/key'),
  subscribe: (body) => post('/api/push/subscriptions', body),
  unsubscribe: (endpoint) =>
    api(`/api/push/subscriptions${query({ endpoint })}`, { method: 'DELETE' }),
};

/** URL of the recorded video of a camera from `start` (a Date) on. */
export function playbackUrl(id, start) {
  return `/api/cameras/${id}/playback.mp4?${times({ start })}`;
}

/** URL of an MP4 export of a camera between two Dates. */
export function exportUrl(id, start, end) {
  return `/api/cameras/${id}/export?${times({ start, end })}`;
}

function times(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v.toISOString());
  return q.toString();
}

function wsUrl(path) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}${path}`;
}
