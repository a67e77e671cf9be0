import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  ForbiddenException,
  Inject,
  Injectable,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { CSRF_COOKIE, CSRF_FIELD, DASHBOARD_OPTIONS } from './dashboard.constants.js';
import {
  header,
  readCookie,
  setCookie,
  type DashboardRequest,
  type DashboardResponse,
} from './dashboard.http.js';
import type { ResolvedDashboardOptions } from './dashboard.options.js';

const NONCE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Signed double-submit CSRF tokens: the browser keeps a random nonce in an HttpOnly, SameSite=Strict
 * cookie; every form carries HMAC(secret, nonce). Another site can neither read the cookie nor
 * compute the HMAC, so it cannot forge a form that passes `verify`.
 */
@Injectable()
export class DashboardCsrf {
  private readonly secret: Buffer;

  constructor(@Inject(DASHBOARD_OPTIONS) options: ResolvedDashboardOptions) {
    this.secret = options.csrfSecret ? Buffer.from(options.csrfSecret, 'utf8') : randomBytes(32);
  }

  /** The token for this browser's forms; gives the browser a nonce cookie if it has none. */
  token(request: DashboardRequest, response: DashboardResponse, cookiePath: string): string {
    let nonce = readCookie(request, CSRF_COOKIE);
    if (!nonce || !NONCE.test(nonce)) {
      nonce = randomBytes(32).toString('base64url');
      setCookie(request, response, CSRF_COOKIE, nonce, cookiePath);
    }
    return this.sign(`csrf:${nonce}`);
  }

  /** True when the posted token matches the cookie's nonce. */
  verify(request: DashboardRequest): boolean {
    const nonce = readCookie(request, CSRF_COOKIE);
    const body = request.body as Record<string, unknown> | undefined;
    const posted = body?.[CSRF_FIELD];
    if (!nonce || !NONCE.test(nonce) || typeof posted !== 'string') return false;
    return this.same(posted, this.sign(`csrf:${nonce}`));
  }

  /** HMAC-SHA256 of the text with this process's (or the configured) secret, base64url. */
  sign(text: string): string {
    return createHmac('sha256', this.secret).update(text).digest('base64url');
  }

  same(a: string, b: string): boolean {
    const left = Buffer.from(a);
    const right = Buffer.from(b);
    return left.length === right.length && timingSafeEqual(left, right);
  }
}

/** Refuses every form post whose CSRF token does not match, and any post another site makes. */
@Injectable()
export class DashboardCsrfGuard implements CanActivate {
  constructor(private readonly csrf: DashboardCsrf) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<DashboardRequest>();
    if (header(request, 'sec-fetch-site') === 'cross-site' || !this.csrf.verify(request)) {
      throw new ForbiddenException(
        'The form has expired or did not come from this dashboard: reload the page and try again.',
      );
    }
    return true;
  }
}

/**
 * The JSON API's posts must be `application/json`, a type no other site's page can send without a
 * CORS preflight; scripts (curl, CI) send it as they authenticate through the guard.
 */
@Injectable()
export class DashboardJsonPostGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<DashboardRequest>();
    const type = (header(request, 'content-type') ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/json' || header(request, 'sec-fetch-site') === 'cross-site') {
      throw new ForbiddenException(
        'POST to the dashboard API with Content-Type: application/json.',
      );
    }
    return true;
  }
}
