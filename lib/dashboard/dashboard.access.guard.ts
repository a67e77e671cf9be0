import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { lastValueFrom, isObservable } from 'rxjs';
import { DASHBOARD_USER_GUARD } from './dashboard.constants.js';

/** Runs the guard the user gave `forRoot` before every page, API call and action. */
@Injectable()
export class DashboardAccessGuard implements CanActivate {
  constructor(@Inject(DASHBOARD_USER_GUARD) private readonly guard: CanActivate) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const verdict = this.guard.canActivate(context);
    const allowed = isObservable(verdict) ? await lastValueFrom(verdict) : await verdict;
    return allowed === true;
  }
}
