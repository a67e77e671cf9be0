/**
 * Fixtures of the dashboard suites: a real HTTP app (JobsModule + JobsDashboardModule behind a basic
 * auth guard, listening on a free port), a small cookie-keeping HTTP client, and Debian's chromium
 * driven by playwright-core.
 */
import { existsSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type DynamicModule,
  type ExecutionContext,
  type INestApplication,
  type Provider,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { DataSourceOptions } from 'typeorm';
import {
  JobKind,
  JobsDashboardModule,
  JobsModule,
  JobsService,
  type JobContext,
  type JobsDashboardOptions,
} from 'nestjs-typeorm-jobs';
import { quietLogger } from './fixtures.js';

export const DASHBOARD_USER = 'admin';
export const DASHBOARD_PASSWORD = 'correct horse battery staple';

/** The guard docs/dashboard.md shows: HTTP basic auth against fixed credentials. */
@Injectable()
export class BasicAuthGuard implements CanActivate {
  private readonly expected = Buffer.from(
    `Basic ${Buffer.from(`${DASHBOARD_USER}:${DASHBOARD_PASSWORD}`).toString('base64')}`,
  );

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    const given = Buffer.from(
      http.getRequest<{ headers: { authorization?: string } }>().headers.authorization ?? '',
    );
    if (given.length === this.expected.length && timingSafeEqual(given, this.expected)) return true;
    // Express's response has setHeader, Fastify's reply header.
    const response = http.getResponse<{
      setHeader?(name: string, value: string): void;
      header?(name: string, value: string): void;
    }>();
    if (response.setHeader) response.setHeader('WWW-Authenticate', 'Basic realm="jobs"');
    else response.header?.('WWW-Authenticate', 'Basic realm="jobs"');
    throw new UnauthorizedException('Sign in to see the jobs.');
  }
}

export const authorization = `Basic ${Buffer.from(`${DASHBOARD_USER}:${DASHBOARD_PASSWORD}`).toString('base64')}`;

export type HttpAdapterName = 'express' | 'fastify';

/** The adapters the browser suite runs the dashboard behind. */
export const HTTP_ADAPTERS: HttpAdapterName[] = ['express', 'fastify'];

export interface DashboardApp {
  app: INestApplication;
  jobs: JobsService;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Origin + mount path, e.g. `http://127.0.0.1:4321/jobs` */
  url: string;
  close(): Promise<void>;
}

export async function startDashboardApp(spec: {
  database: DataSourceOptions;
  providers?: Provider[];
  path?: string;
  /** Replaces `JobsDashboardModule.forRoot({ path, guard: BasicAuthGuard })`. */
  dashboardModule?: DynamicModule;
  globalPrefix?: string;
  /** The HTTP adapter: Express (default) or Fastify (loaded only then: Nest 11's phase has none). */
  adapter?: HttpAdapterName;
  /** More of `JobsDashboardModule.forRoot()`'s options (e.g. `refreshInterval`). */
  dashboard?: Omit<JobsDashboardOptions, 'path' | 'guard'>;
}): Promise<DashboardApp> {
  const path = spec.path ?? '/jobs';
  const moduleRef = await Test.createTestingModule({
    imports: [
      TypeOrmModule.forRoot({
        ...spec.database,
        autoLoadEntities: true,
        synchronize: true,
        retryAttempts: 0,
      } as never),
      JobsModule.forRoot({ pollInterval: 50, backoff: 50 }),
      spec.dashboardModule ??
        JobsDashboardModule.forRoot({ path, guard: BasicAuthGuard, ...spec.dashboard }),
    ],
    providers: spec.providers ?? [],
  })
    .setLogger(quietLogger)
    .compile();
  const app =
    spec.adapter === 'fastify'
      ? moduleRef.createNestApplication(
          new (await import('@nestjs/platform-fastify')).FastifyAdapter(),
          { logger: quietLogger },
        )
      : moduleRef.createNestApplication({ logger: quietLogger });
  if (spec.globalPrefix) app.setGlobalPrefix(spec.globalPrefix);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    app,
    jobs: app.get(JobsService),
    origin,
    url: `${origin}${spec.globalPrefix ? `/${spec.globalPrefix}` : ''}${path}`,
    close: () => app.close(),
  };
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

/** An HTTP client that keeps cookies like a browser (per name, no expiry logic beyond Max-Age=0). */
export class DashboardClient {
  private readonly cookies = new Map<string, string>();

  constructor(
    private readonly origin: string,
    private readonly headers: Record<string, string> = { authorization },
  ) {}

  async request(path: string, init: RequestInit = {}): Promise<Reply> {
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await fetch(`${this.origin}${path}`, {
      redirect: 'manual',
      ...init,
      headers: {
        ...this.headers,
        ...(cookie ? { cookie } : {}),
        ...(init.headers as Record<string, string>),
      },
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      if (attributes.some((a) => a.trim().toLowerCase() === 'max-age=0')) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(at + 1).trim());
    }
    return { status: response.status, headers: response.headers, text: await response.text() };
  }

  get(path: string): Promise<Reply> {
    return this.request(path);
  }

  postForm(path: string, fields: Array<[string, string]>): Promise<Reply> {
    return this.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }

  postJson(path: string, body: unknown): Promise<Reply> {
    return this.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }
}

/** The CSRF token of the first form on a page. */
export function csrfTokenOf(page: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(page);
  if (!match) throw new Error('No CSRF field on the page');
  return match[1];
}

export const CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

/** Why the browser suite cannot run here, or null. In CI a missing chromium is a failure, not a skip. */
export function browserSkipReason(): string | null {
  if (existsSync(CHROMIUM) || process.env.CI === 'true') return null;
  return `SKIPPED: ${CHROMIUM} is missing (apt-get install -y chromium); CI runs this suite`;
}

export const XSS = '</pre><script>alert(1)</script>';

/** Handlers of the dashboard suites; `ReportHandler.failing` decides whether report.build throws. */
@Injectable()
export class ReportHandler {
  static failing = true;

  @JobKind('report.build', { maxAttempts: 1 })
  build(job: JobContext<{ month: string }>) {
    job.log(`building the report for ${job.data.month}`);
    if (ReportHandler.failing) throw new Error(`the ledger for ${job.data.month} is locked`);
    return { pages: 12 };
  }

  @JobKind('email.send')
  send(job: JobContext<{ to: string; subject: string }>) {
    job.log(`sending to ${job.data.to}`);
    return { messageId: `<${job.id}@mail.example>` };
  }
}

/** A kind whose name, data, logs and error are all an XSS payload. */
@Injectable()
export class HostileHandler {
  @JobKind(XSS, { maxAttempts: 1 })
  hostile(job: JobContext<{ html: string }>) {
    job.log(job.data.html);
    throw new Error(job.data.html);
  }
}

/** What a test tells a running `import.rows` job to do next: report a progress, or end. */
export type ImportStep = { progress: unknown } | { finish: unknown };

/** One run of `import.rows`: the steps the test gave it, and what the handler saw. */
export class ImportRun {
  private readonly steps: ImportStep[] = [];
  private wake: (() => void) | null = null;
  /** The reason its signal aborted with, once it did. */
  abortReason: unknown = undefined;
  /** Settles when the handler has returned. */
  readonly returned: Promise<void>;
  private markReturned!: () => void;

  constructor() {
    this.returned = new Promise((resolve) => (this.markReturned = resolve));
  }

  give(step: ImportStep): void {
    this.steps.push(step);
    this.wake?.();
  }

  async next(signal: AbortSignal): Promise<ImportStep | null> {
    while (this.steps.length === 0 && !signal.aborted) {
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
    return this.steps.shift() ?? null;
  }

  ended(): void {
    this.markReturned();
  }
}

/**
 * A long job the test drives: it runs until told to finish, reporting with `job.progress()` each
 * value the test gives it. An aborted signal ends it (after the steps already given).
 */
@Injectable()
export class ImportHandler {
  static readonly runs = new Map<number, ImportRun>();

  /** The run of job `id` (made before the job starts, if asked first). */
  static run(id: number): ImportRun {
    let run = ImportHandler.runs.get(id);
    if (!run) ImportHandler.runs.set(id, (run = new ImportRun()));
    return run;
  }

  /** Ends every run still going (a test's clean-up). */
  static finishAll(): void {
    for (const run of ImportHandler.runs.values()) run.give({ finish: null });
    ImportHandler.runs.clear();
  }

  @JobKind('import.rows', { maxAttempts: 1 })
  async import(job: JobContext<{ file: string }>) {
    const run = ImportHandler.run(job.id);
    const stop = () => {
      run.abortReason = job.signal.reason;
      run.give({ finish: 'stopped' });
    };
    job.signal.addEventListener('abort', stop, { once: true });
    try {
      for (;;) {
        const step = await run.next(job.signal);
        if (step === null) return 'stopped';
        if ('finish' in step) return step.finish;
        await job.progress(step.progress);
      }
    } finally {
      job.signal.removeEventListener('abort', stop);
      run.ended();
    }
  }
}
