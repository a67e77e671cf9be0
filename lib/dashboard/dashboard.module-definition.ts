import type {
  CanActivate,
  DynamicModule,
  InjectionToken,
  ModuleMetadata,
  OptionalFactoryDependency,
  Provider,
  Type,
} from '@nestjs/common';
import { RouterModule } from '@nestjs/core';
import { DASHBOARD_OPTIONS, DASHBOARD_PATH, DASHBOARD_USER_GUARD } from './dashboard.constants.js';
import {
  checkGuard,
  normalizeMountPath,
  resolveDashboardOptions,
  type JobsDashboardExtras,
  type JobsDashboardOptions,
} from './dashboard.options.js';

/** `forRootAsync()`: the route and guard as they are, the other options from a factory. */
export interface JobsDashboardAsyncOptions
  extends JobsDashboardExtras, Pick<ModuleMetadata, 'imports'> {
  useFactory: (...args: never[]) => JobsDashboardOptions | Promise<JobsDashboardOptions>;
  inject?: Array<InjectionToken | OptionalFactoryDependency>;
}

/**
 * The dynamic module: its controllers mounted at the path (RouterModule), the user's guard provided
 * in its scope, the options resolved in one place. Written by hand rather than with
 * ConfigurableModuleBuilder, whose generated `forRoot` cannot make `path` and `guard` required.
 */
export function dashboardDefinition(
  module: Type,
  extras: JobsDashboardExtras,
  options: Provider,
  imports: ModuleMetadata['imports'] = [],
): DynamicModule {
  const path = normalizeMountPath(extras.path);
  const guard: Type<CanActivate> = checkGuard(extras.guard);
  return {
    module,
    imports: [...imports, RouterModule.register([{ path, module }])],
    providers: [
      options,
      guard,
      { provide: DASHBOARD_USER_GUARD, useExisting: guard },
      { provide: DASHBOARD_PATH, useValue: path },
    ],
  };
}

export function syncOptions(options: JobsDashboardOptions): Provider {
  return { provide: DASHBOARD_OPTIONS, useValue: resolveDashboardOptions(options) };
}

export function asyncOptions(options: JobsDashboardAsyncOptions): Provider {
  return {
    provide: DASHBOARD_OPTIONS,
    useFactory: async (...args: never[]) =>
      resolveDashboardOptions(await options.useFactory(...args)),
    inject: options.inject ?? [],
  };
}
