import { Injectable } from '@nestjs/common';
import { FLASH_COOKIE } from './dashboard.constants.js';
import { DashboardCsrf } from './dashboard.csrf.js';
import {
  readCookie,
  setCookie,
  type DashboardRequest,
  type DashboardResponse,
} from './dashboard.http.js';

export interface Flash {
  kind: 'notice' | 'error';
  text: string;
}

/** One message carried from an action to the page it redirects to, in a signed cookie read once. */
@Injectable()
export class DashboardFlash {
  constructor(private readonly signer: DashboardCsrf) {}

  set(request: DashboardRequest, response: DashboardResponse, path: string, flash: Flash): void {
    const body = Buffer.from(JSON.stringify(flash).slice(0, 2_000)).toString('base64url');
    setCookie(
      request,
      response,
      FLASH_COOKIE,
      `${body}.${this.signer.sign(`flash:${body}`)}`,
      path,
      60,
    );
  }

  /** The message left by the last action, cleared as it is read; null if none or forged. */
  take(request: DashboardRequest, response: DashboardResponse, path: string): Flash | null {
    const cookie = readCookie(request, FLASH_COOKIE);
    if (!cookie) return null;
    setCookie(request, response, FLASH_COOKIE, '', path, 0);
    const [body, signature] = cookie.split('.');
    if (!body || !signature || !this.signer.same(signature, this.signer.sign(`flash:${body}`)))
      return null;
    try {
      const flash = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Flash;
      return typeof flash.text === 'string' && (flash.kind === 'notice' || flash.kind === 'error')
        ? flash
        : null;
    } catch {
      return null;
    }
  }
}
