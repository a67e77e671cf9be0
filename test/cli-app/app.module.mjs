// A user's root module as the CLI meets it: `--module app.module.mjs` (export AppModule, the default name).
import { Module } from '@nestjs/common';
import { appImports, CliHandlers } from './shared.mjs';

export class AppModule {}
Reflect.decorate([Module({ imports: appImports(), providers: [CliHandlers] })], AppModule);
