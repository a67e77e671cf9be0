// The same app configured through a static forRoot(), as many apps are (sample-app is): the CLI
// cannot call forRoot() itself, so the file also exports the configured module, as docs/cli.md says.
import { Module } from '@nestjs/common';
import { appImports, CliHandlers } from './shared.mjs';

export class ConfigurableAppModule {
  static forRoot() {
    return { module: ConfigurableAppModule, imports: appImports(), providers: [CliHandlers] };
  }
}
Reflect.decorate([Module({})], ConfigurableAppModule);

/** `--module configurable.module.mjs#JobsCliModule` */
export const JobsCliModule = ConfigurableAppModule.forRoot();
