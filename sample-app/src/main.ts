import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { startTracing } from './tracing.js';

async function bootstrap(): Promise<void> {
  await startTracing(); // SAMPLE_TRACING=1: spans and metrics on the console
  const app = await NestFactory.create(AppModule.forRoot());
  // On SIGTERM / Ctrl-C the runner stops claiming and lets running jobs finish before the database closes.
  app.enableShutdownHooks();
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port);
  new Logger('Sample').log(
    `Listening on ${await app.getUrl()} (try POST /webmention, POST /flaky, POST /digests/alice, POST /reports/2026-11, POST /invoices, POST /newsletters, POST /accounts/42/sync, GET /status, GET /jobs)`,
  );
}

await bootstrap();
