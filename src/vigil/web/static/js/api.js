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

/** WebSocket URL of a camera's live stream; stream 'sub' is the lighter one for grids
 * (the server falls back to the main stream when the camera has no sub-stream). */
export function liveUrl(id, stream = 'main') {
  return wsUrl(`/api/cameras/${id}/live?stream=${stream}`);
}

/** WebSocket URL of the event stream (camera status changes). */
export function eventsUrl() {
  return wsUrl('/api/events');
}

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
