// Who is signed in and what they may do, as /api/auth/me tells it. Views ask `can(...)` to
// show only the controls the user may use; the server checks every request regardless, so
// this is about not offering what would be refused, not about security.

/** Permission names, as the server spells them (domain/permissions.py). */
export const P = Object.freeze({
  LIVE: 'live',
  PLAYBACK: 'playback',
  EXPORT: 'export',
  PTZ: 'ptz',
  SEARCH: 'search',
  MANAGE: 'manage',
  UNMASK: 'unmask',
  AUDIT: 'audit',
  ALARMS: 'alarms',
  INPUTS: 'inputs',
});

/** Any of these on a camera shows the camera in lists (api/auth.py CAMERA_ACCESS). */
export const CAMERA_ACCESS = [P.LIVE, P.PLAYBACK, P.EXPORT, P.PTZ, P.SEARCH, P.ALARMS, P.MANAGE];

class Session extends EventTarget {
  constructor() {
    super();
    /** MePublic of the signed-in user, or null. */
    this.me = null;
  }

  get signedIn() {
    return this.me !== null;
  }

  /** The name to show: the display name, else the username. */
  get name() {
    return this.me ? this.me.display_name || this.me.username : '';
  }

  /** Whether the user holds any of `permissions` on at least one camera (or globally). */
  can(...permissions) {
    const held = this.me?.permissions_anywhere ?? [];
    return permissions.some((p) => held.includes(p));
  }

  /** Whether the user holds any of `permissions` on all cameras. */
  canEverywhere(...permissions) {
    const held = this.me?.global_permissions ?? [];
    return permissions.some((p) => held.includes(p));
  }

  /** Set (or clear, with null) the signed-in user; emits "change". */
  set(me) {
    this.me = me;
    this.dispatchEvent(new Event('change'));
  }
}

export const session = new Session();
