import { timingSafeEqual } from 'node:crypto';
import {
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';

/**
 * HTTP basic auth for the jobs dashboard: user "admin", password from JOBS_DASHBOARD_PASSWORD
 * (default "jobs", for trying the sample locally; set your own anywhere else).
 */
@Injectable()
export class DashboardGuard implements CanActivate {
  private readonly expected = Buffer.from(
    `Basic ${Buffer.from(`admin:${process.env.JOBS_DASHBOARD_PASSWORD ?? 'jobs'}`).toString('base64')}`,
  );

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    const request = http.getRequest<{ headers: { authorization?: string } }>();
    const given = Buffer.from(request.headers.authorization ?? '');
    if (given.length === this.expected.length && timingSafeEqual(given, this.expected)) return true;
    http
      .getResponse<{ setHeader(name: string, value: string): void }>()
      .setHeader('WWW-Authenticate', 'Basic realm="jobs"');
    throw new UnauthorizedException('Sign in to see the jobs.');
  }
}
