import type { ModuleRef } from '@nestjs/core';

/**
 * A provider of the app's JobsModule, wherever it was imported (it need not be global). The
 * dashboard reads and acts through the same service and DataSource as the rest of the app.
 */
export function fromJobsModule<T>(
  moduleRef: ModuleRef,
  token: string | symbol | (abstract new (...args: never[]) => T),
): T {
  try {
    return moduleRef.get<T>(token as never, { strict: false });
  } catch {
    throw new Error(
      'JobsDashboardModule needs JobsModule: import JobsModule.forRoot() (or forRootAsync()) in the same application.',
    );
  }
}
