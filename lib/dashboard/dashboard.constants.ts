/** Injection token of the dashboard's resolved options. */
export const DASHBOARD_OPTIONS = Symbol('jobs-dashboard:options');

/** Injection token of the user's guard instance. */
export const DASHBOARD_USER_GUARD = Symbol('jobs-dashboard:user-guard');

/** Injection token of the mount path given to `forRoot` (without any global prefix). */
export const DASHBOARD_PATH = Symbol('jobs-dashboard:path');

export const CSRF_COOKIE = 'jobs_dashboard_csrf';
export const FLASH_COOKIE = 'jobs_dashboard_flash';
export const CSRF_FIELD = '_csrf';

/** Most jobs one action may name. */
export const MAX_ACTION_IDS = 1_000;
