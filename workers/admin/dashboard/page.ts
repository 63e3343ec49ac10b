import type { Context } from 'hono';
import type { Caller } from '../auth';
import { csrfToken } from './csrf';
import { takeFlash, type PageFrame } from './layout';
import type { DashEnv } from './session';

/** What every signed-in page needs: who, the form token, the flash, and what they may change. */
export interface PageContext {
  caller: Caller;
  csrf: string;
  frame(title: string, nav: PageFrame['nav']): PageFrame;
  /** Definitions, all-orgs overrides, new flags. */
  canEditSystem: boolean;
  /** Values and overrides of this org. */
  canEditOrg(orgId: string | null): boolean;
}

export async function pageContext(c: Context<DashEnv>): Promise<PageContext> {
  const caller = c.get('caller');
  const csrf = await csrfToken(c);
  const flash = takeFlash(c);
  return {
    caller,
    csrf,
    frame: (title, nav) => ({ title, nav, caller, csrf, flash }),
    canEditSystem: caller.role === 'system_admin',
    canEditOrg: (orgId) => caller.role === 'system_admin' || (caller.role === 'org_admin' && orgId !== null && orgId === caller.orgId),
  };
}
