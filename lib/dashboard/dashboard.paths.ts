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

  /** A posted "return to" URL, if it is a page of this dashboard; otherwise the list. */
  returnTo(value: unknown): string {
    const base = this.base;
    if (
      typeof value !== 'string' ||
      value.length > 2_000 ||
      /[\\\s]|\/\/|[\u0000-\u001f]/.test(value)
    )
      return base;
    const rest = value.slice(base.length);
    return value.startsWith(base) && (rest === '' || rest.startsWith('/') || rest.startsWith('?'))
      ? value
      : base;
  }
}
