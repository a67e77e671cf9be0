import { NestFactory } from '@nestjs/core';
import { JobsService } from 'nestjs-typeorm-jobs';
import { AppModule } from './app.module';
import { UsersService } from './users.module';

const SHARED = ['@nestjs/common', '@nestjs/core', '@nestjs/typeorm', 'typeorm'];

/**
 * Folders each framework package was loaded from. The app require()s them and the package (ESM)
 * imports them; if the two resolved to different copies, DI tokens and decorator metadata would not
 * match. CommonJS modules that ESM imports are in require.cache too, under their real paths.
 */
function loadedCopies(): Record<string, string[]> {
  const copies: Record<string, Set<string>> = {};
  for (const name of SHARED) copies[name] = new Set();
  for (const file of Object.keys(require.cache)) {
    for (const name of SHARED) {
      const at = file.lastIndexOf(`/node_modules/${name}/`);
      if (at >= 0) copies[name].add(file.slice(0, at));
    }
  }
  return Object.fromEntries(SHARED.map((name) => [name, [...copies[name]]]));
}

/** Starts the app, enqueues one job from a feature module and waits (bounded) for its outcome. */
async function main() {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  try {
    const job = await app.get(UsersService).signUp('ada@example.com');
    const jobs = app.get(JobsService);
    const deadline = Date.now() + 20_000;
    let seen = await jobs.get(job.id);
    while (seen?.status !== 'succeeded' && seen?.status !== 'failed' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      seen = await jobs.get(job.id);
    }
    const copies = loadedCopies();
    const report = {
      status: seen?.status,
      result: seen?.result,
      error: seen?.lastError,
      kinds: (await jobs.kinds()).map(({ name, resolves }) => ({ name, resolves })),
      copies,
    };
    console.log(JSON.stringify(report));
    const oneCopyEach = SHARED.every((name) => copies[name].length === 1);
    process.exitCode = seen?.status === 'succeeded' && oneCopyEach ? 0 : 1;
  } finally {
    await app.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
