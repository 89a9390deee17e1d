// The REST API of the Vigil server: one fetch wrapper (`request`, and `api` for JSON) that
// sends the CSRF header on changes, turns error responses into ApiError (with the server's
// message and, for validation errors, the fields at fault) and reports a 401 (the session
// expired or ended) on `authEvents`, so that the shell can show the sign-in form. Small
// functions per resource follow. URLs for media (live, playback, export) are built here.

/** The cookie whose value state-changing requests echo in CSRF_HEADER (double submit). */
export const CSRF_COOKIE = 'vigil_csrf';
export const CSRF_HEADER = 'X-CSRF-Token';
/** WebSocket close code of the server for "sign in first" (HTTP status + 4000). */
export const WS_UNAUTHORISED = 4401;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const SESSION_CHECK_MS = 2000; // at most one session check per this, after refused sockets

/**
 * Session news for the shell: "unauthorised" when the server answers 401 to a request made
 * on the user's behalf (expired, signed out elsewhere, password changed).
 */
export const authEvents = new EventTarget();

/** An API call that failed: `message` is what the server said, `fields` maps a field to
 * its validation message (422 responses), `body` is the parsed answer (or null). */
export class ApiError extends Error {
  constructor(status, message, fields = {}, body = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.fields = fields;
    this.body = body;
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
  return new ApiError(response.status, message, fields, body);
}

/** The session's CSRF token, from the cookie the server set at sign-in (null without one). */
export function csrfToken() {
  for (const part of document.cookie.split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === CSRF_COOKIE) return decodeURIComponent(value.join('='));
  }
  return null;
}

/**
 * The one fetch of the client: resolves to the Response (any status), rejects with ApiError
 * when the server cannot be reached. Adds the CSRF header to changes; a 401 is reported on
 * `authEvents` unless `signIn` is false (the sign-in form's own calls, where 401 means
 * "wrong password").
 */
export async function request(path, { method = 'GET', headers = {}, body, signal, signIn = true } = {}) {
  const init = { method, signal, body, credentials: 'same-origin', headers: { ...headers } };
  if (!SAFE_METHODS.has(method)) {
    const token = csrfToken();
    if (token) init.headers[CSRF_HEADER] = token;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, `the server cannot be reached (${err.message})`);
  }
  if (response.status === 401 && signIn) authEvents.dispatchEvent(new Event('unauthorised'));
  return response;
}

/** Call the API; resolves to the parsed JSON (null for 204), rejects with ApiError. */
export async function api(path, { method = 'GET', body, signal, signIn = true } = {}) {
  const headers = { Accept: 'application/json' };
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const response = await request(path, { method, headers, body: payload, signal, signIn });
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  return response.json();
}

let lastSessionCheck = 0;

/**
 * A WebSocket closed: with 4401 the session is gone. A browser does not see the code of a
 * socket refused before it opened (it reports 1006), so a socket that never opened asks the
 * server whether the session still holds (at most every few seconds); a 401 there signs out.
 */
export function socketClosed(event, opened) {
  if (event.code === WS_UNAUTHORISED) {
    authEvents.dispatchEvent(new Event('unauthorised'));
    return;
  }
  if (opened || Date.now() - lastSessionCheck < SESSION_CHECK_MS) return;
  lastSessionCheck = Date.now();
  api('/api/auth/me').catch(() => {}); // a 401 is reported by api() itself
}

/** Signing in and out, and the signed-in user's own account. */
export const auth = {
  /** { setup_required }: public. */
  status: () => api('/api/auth/status', { signIn: false }),
  /** The signed-in user (MePublic); rejects with 401 when nobody is. */
  me: () => api('/api/auth/me', { signIn: false }),
  login: (username, password, totp = null) =>
    api('/api/auth/login', { method: 'POST', body: { username, password, totp: totp || null }, signIn: false }),
  setup: (body) => api('/api/auth/setup', { method: 'POST', body, signIn: false }),
  logout: () => api('/api/auth/logout', { method: 'POST', signIn: false }),
  changePassword: (current_password, new_password) =>
    api('/api/auth/password', { method: 'POST', body: { current_password, new_password }, signIn: false }),
  totpSetup: () => api('/api/auth/totp/setup', { method: 'POST' }),
  totpConfirm: (code) => api('/api/auth/totp/confirm', { method: 'POST', body: { code } }),
};

export const cameras = {
  list: (opts) => api('/api/cameras', opts),
  get: (id, opts) => api(`/api/cameras/${id}`, opts),
  create: (body) => api('/api/cameras', { method: 'POST', body }),
  update: (id, body) => api(`/api/cameras/${id}`, { method: 'PATCH', body }),
  remove: (id) => api(`/api/cameras/${id}`, { method: 'DELETE' }),
  /** `camera`: the camera ({ id, site }) or its id (see `mediaPath`). */
  timeline: (camera, start, end, opts) =>
    api(`${mediaPath(camera, 'timeline')}?${times({ start, end })}`, opts),
};

/** Federated sites this server links to (registering needs manage; see admin-sites.js). */
export const sites = {
  list: (opts) => api('/api/sites', opts),
  /** Without `fingerprint` the server answers 409 with the certificate's, to confirm. */
  add: (body) => api('/api/sites', { method: 'POST', body }),
  remove: (name) => api(`/api/sites/${encodeURIComponent(name)}`, { method: 'DELETE' }),
};

// The names of the linked sites: an item (camera, alarm, event) whose `site` is one of them
// is that site's, mirrored here; any other `site` names this installation.
const linkedSites = new Set();
let linkedSitesLoad = null;

/** Read the linked sites' names again (after signing in, adding or removing a site). A
 * user who may not list them sees every item as this installation's. */
export function loadLinkedSites() {
  linkedSitesLoad = sites.list().then((list) => {
    linkedSites.clear();
    for (const s of list) linkedSites.add(s.name);
  }, () => {});
  return linkedSitesLoad;
}

/** Resolves once the linked sites' names are known (loading them the first time). */
export const linkedSitesReady = () => linkedSitesLoad ?? loadLinkedSites();

/** The linked site a camera, alarm or event belongs to, or null for this installation's. */
export const siteOf = (item) => (item?.site && linkedSites.has(item.site) ? item.site : null);

/** Path of a camera's media (`what`: live, timeline, playback.mp4, export): a linked site's
 * camera is reached through this server's relay. `camera`: { id, site }, or an id (a camera
 * of this installation). */
export function mediaPath(camera, what) {
  const base = siteOf(camera) ? '/api/federation/cameras' : '/api/cameras';
  return `${base}/${camera?.id ?? camera}/${what}`;
}

export const nodes = {
  list: (opts) => api('/api/nodes', opts),
  update: (name, body) => api(`/api/nodes/${encodeURIComponent(name)}`, { method: 'PATCH', body }),
};

/** A camera's analytics configuration (zones, lines, behaviours) and the analytics' state. */
export const analytics = {
  get: (id, opts) => api(`/api/cameras/${id}/analytics`, opts),
  save: (id, body) => api(`/api/cameras/${id}/analytics`, { method: 'PUT', body }),
  status: (opts) => api('/api/analytics/status', opts),
  detectors: (opts) => api('/api/analytics/detectors', opts),
  motionGate: (opts) => api('/api/analytics/motion-gate', opts),
};

/** The latest analysed (or live) frame of a camera as JPEG. */
export const snapshotUrl = (id) => `/api/cameras/${id}/snapshot.jpg`;

/** WebSocket URL of a camera's live stream ({ id, site } or an id, see `mediaPath`); stream
 * 'sub' is the lighter one for grids (the server falls back to the main stream when the
 * camera has no sub-stream). */
export function liveUrl(camera, stream = 'main') {
  return wsUrl(`${mediaPath(camera, 'live')}?stream=${stream}`);
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
  // The server records the signed-in user as the one who acts.
  transition: (id, state, reason = null) => post(`/api/alarms/${id}/transition`, { state, reason }),
  assign: (id, owner) => post(`/api/alarms/${id}/assign`, { owner }),
  comment: (id, text) => post(`/api/alarms/${id}/comments`, { text }),
  sop: (id, index, done) => post(`/api/alarms/${id}/sop/${index}`, { done }),
  stats: (params, opts) => api(`/api/alarms/stats${query(params)}`, opts),
};

/** Stored events, newest first (since, until, camera_id, type, limit). */
export const events = { list: (params, opts) => api(`/api/events${query(params)}`, opts) };

export const actions = {
  list: (params, opts) => api(`/api/actions${query(params)}`, opts),
  /** Queue a failed run again (fresh attempts); the signed-in user is named in the history. */
  retry: (id) => post(`/api/actions/${id}/retry`),
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

/** Users (permission manage): roles held through assignments, optionally narrowed. */
export const users = {
  list: (opts) => api('/api/users', opts),
  create: (body) => post('/api/users', body),
  update: (id, body) => api(`/api/users/${id}`, { method: 'PATCH', body }),
  remove: (id) => api(`/api/users/${id}`, { method: 'DELETE' }),
  resetTotp: (id) => api(`/api/users/${id}/totp`, { method: 'DELETE' }),
  unlock: (id) => post(`/api/users/${id}/unlock`),
};

/** Roles: built-in ones (read only) and custom ones (lists of grants). */
export const roles = resource('/api/roles');

/** API tokens: the secret is in the answer to `create` only. */
export const tokens = {
  list: (opts) => api('/api/tokens', opts),
  create: (body) => post('/api/tokens', body),
  revoke: (id) => api(`/api/tokens/${id}`, { method: 'DELETE' }),
};

/** Registers of vehicles (stolen, wanted, permits...) and their entries. */
export const registers = {
  list: (opts) => api('/api/registers', opts),
  create: (body) => api('/api/registers', { method: 'POST', body }),
  remove: (id) => api(`/api/registers/${id}`, { method: 'DELETE' }),
  entries: (id, params, opts) => api(`/api/registers/${id}/entries${query(params)}`, opts),
  addEntries: (id, entries) => api(`/api/registers/${id}/entries`, { method: 'POST', body: { entries } }),
  removeEntry: (id, entryId) => api(`/api/registers/${id}/entries/${entryId}`, { method: 'DELETE' }),
  sync: (id) => api(`/api/registers/${id}/sync`, { method: 'POST' }),
  /** Who sees it, edits its entries and is alerted by its hits: { see, edit, alert } role names. */
  setAccess: (id, access) => api(`/api/registers/${id}/access`, { method: 'PUT', body: access }),
  /** Enrol a person: `form` a FormData with name, reason and photos (files). */
  async enrol(id, form) {
    const response = await request(`/api/registers/${id}/persons`, { method: 'POST', headers: { Accept: 'application/json' }, body: form });
    if (!response.ok) throw await errorOf(response);
    return response.json();
  },
  /** Import a CSV file's text: { added, updated, removed, errors }. */
  async importCsv(id, text) {
    const response = await request(`/api/registers/${id}/import`, {
      method: 'POST', headers: { 'Content-Type': 'text/csv', Accept: 'application/json' }, body: text,
    });
    if (!response.ok) throw await errorOf(response);
    return response.json();
  },
};

/** The audit trail (permission audit): { total, offset, limit, entries }, newest first. */
export const audit = {
  list: (params, opts) => api(`/api/audit${query(params)}`, opts),
  verify: (opts) => api('/api/audit/verify', opts),
  /** URL of the CSV export of the entries matching `params` (oldest first). */
  csvUrl: (params) => `/api/audit.csv${query(params)}`,
};

/** URL of the recorded video of a camera ({ id, site } or an id) from `start` (a Date) on. */
export function playbackUrl(camera, start) {
  return `${mediaPath(camera, 'playback.mp4')}?${times({ start })}`;
}

/** URL of an MP4 export of a camera ({ id, site } or an id) between two Dates; `redact`
 * lists what to blur ('faces', 'plates'). */
export function exportUrl(camera, start, end, redact = []) {
  const q = new URLSearchParams(times({ start, end }));
  for (const kind of redact) q.append('redact', kind);
  return `${mediaPath(camera, 'export')}?${q}`;
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

/** The map: street map settings, site plans, cameras' positions. */
export const map = {
  /** { street: { tiles, attribution, center, zoom, max_zoom } | null, plans: [...] } */
  get: (opts) => api('/api/map', opts),
  planImageUrl: (id) => `/api/plans/${id}/image`,
  /** Upload a plan's picture (a File) under a name. */
  async addPlan(name, file) {
    const response = await request(`/api/plans${query({ name })}`, {
      method: 'POST', headers: { 'Content-Type': file.type || 'application/octet-stream' }, body: file,
    });
    if (!response.ok) throw await errorOf(response);
    return response.json();
  },
  removePlan: (id) => api(`/api/plans/${id}`, { method: 'DELETE' }),
  place: (cameraId, position) => api(`/api/cameras/${cameraId}/position`, { method: 'PUT', body: position }),
  unplace: (cameraId) => api(`/api/cameras/${cameraId}/position`, { method: 'DELETE' }),
};
