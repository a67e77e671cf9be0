import { Inject, Injectable } from '@nestjs/common';
import { ApplicationConfig } from '@nestjs/core';
import { DASHBOARD_PATH } from './dashboard.constants.js';

/** Where the dashboard answers, global prefix included, for its links, forms and cookies. */
@Injectable()
export class DashboardPaths {
  constructor(
    @Inject(DASHBOARD_PATH) private readonly path: string,
    private readonly config: ApplicationConfig,
  ) {}

  get base(): string {
    const prefix = this.config.getGlobalPrefix().split('/').filter(Boolean);
    return prefix.length ? `/${prefix.join('/')}${this.path}` : this.path;
  }

  /**
   * A posted "return to" URL, if it is a page of this dashboard; otherwise the list. The path is
   * judged as a browser would follow it: percent-decoded, dot segments and all. Anything a browser
   * could read as another path (`..`, `%2e%2e`, a backslash, `//`, an encoded `/`) sends to the list instead.
   */
  returnTo(value: unknown): string {
    const base = this.base;
    if (typeof value !== 'string' || value.length > 2_000) return base;
    const at = value.indexOf('?');
    const path = at === -1 ? value : value.slice(0, at);
    const query = at === -1 ? '' : value.slice(at);
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return base;
    }
    const plain =
      decoded === path &&
      /^\/[A-Za-z0-9/_.~-]*$/.test(path) &&
      !path.includes('//') &&
      !path.split('/').some((segment) => segment === '.' || segment === '..');
    const under = path === base || path.startsWith(`${base}/`);
    const safeQuery = !/[\\\s#]|[\u0000-\u001f\u007f]/.test(query);
    return plain && under && safeQuery ? value : base;
  }
}
