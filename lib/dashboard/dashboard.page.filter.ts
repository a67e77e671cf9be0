import {
  Catch,
  HttpException,
  Inject,
  Logger,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { DASHBOARD_OPTIONS } from './dashboard.constants.js';
import { securePage, type DashboardResponse } from './dashboard.http.js';
import type { ResolvedDashboardOptions } from './dashboard.options.js';
import { DashboardPaths } from './dashboard.paths.js';
import { errorPage } from './dashboard.views.js';

interface SendingResponse extends DashboardResponse {
  /** Express. */
  headersSent?: boolean;
  /** Fastify. */
  sent?: boolean;
  status(code: number): SendingResponse;
  send(body: string): unknown;
}

/** Errors on the HTML pages (bad filters, unknown job, refused guard or CSRF) as an HTML page. */
@Catch()
export class DashboardPageFilter implements ExceptionFilter {
  private readonly logger = new Logger('JobsDashboard');

  constructor(
    @Inject(DASHBOARD_OPTIONS) private readonly options: ResolvedDashboardOptions,
    private readonly paths: DashboardPaths,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<SendingResponse>();
    if (response.headersSent || response.sent) return;
    let status = 500;
    let message = 'The dashboard failed to answer; the error is in the server log.';
    if (exception instanceof HttpException) {
      status = exception.getStatus();
      const body = exception.getResponse();
      const text = typeof body === 'string' ? body : (body as { message?: unknown }).message;
      message = Array.isArray(text) ? text.join(' ') : String(text ?? exception.message);
    } else {
      this.logger.error(
        exception instanceof Error ? (exception.stack ?? exception.message) : String(exception),
      );
    }
    const nonce = securePage(response);
    // No CSRF token here: a page shown to someone the guard refused must offer no form.
    const page = {
      base: this.paths.base,
      title: this.options.title,
      nonce,
      csrf: '',
      flash: null,
      refresh: this.options.refreshInterval,
    };
    response.status(status).send(errorPage(page, status, message).markup);
  }
}
