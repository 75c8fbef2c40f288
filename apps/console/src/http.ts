// The console's pages and actions (express), behind sign-in: sessions in Redis (express-session + connect-redis),
// CSRF tokens on every form (csrf-sync, the synchroniser-token pattern kept in the session), templates rendered by
// Eta with escaping on. Every refusal is a page that says what and why, counted in fleetcap_console_refused_total.
import { readFileSync } from 'node:fs';
import { addAgent, revokeAgent } from '@fleetcap/lib/auth/agent-enrolment';
import { KeptPacketsError, keptPackets, pcapOfKeptPackets } from '@fleetcap/lib/pcap/kept-packets';
import { RedisStore } from 'connect-redis';
import { csrfSync } from 'csrf-sync';
import { Eta } from 'eta';
import express, { type NextFunction, type Request, type Response } from 'express';
import session from 'express-session';
import type mysql from 'mysql2/promise';
import type { Logger } from 'pino';
import { FilterError, filterQuery, parseAlertFilters } from './alert-filters.ts';
import { configInsertSql, configUpdateSql } from './config-sql.ts';
import { bucketSeconds, labelChartSvg } from './label-chart.ts';
import type { ConsoleMetrics } from './metrics.ts';
import { packetLines } from './packet-table.ts';
import * as q from './queries.ts';
import { formatValue, recordGroups } from './record-fields.ts';
import { checkSignIn, currentUser, type SignedInUser } from './sign-in.ts';

declare module 'express-session' {
  interface SessionData {
    userId?: number;
  }
}

export interface ConsoleAppOptions {
  /** The reporting account: every page reads through it. */
  report: Pick<mysql.Pool, 'query'>;
  /** The console's account: sign-ins, and the admins' agent actions. */
  own: Pick<mysql.Pool, 'query' | 'execute'>;
  redis: unknown;
  redisPrefix: string;
  sessionSecret: string;
  idleSeconds: number;
  pageRows: number;
  defaultRangeHours: number;
  metrics: ConsoleMetrics;
  log: Logger;
  now?: () => Date;
}

const views = new URL('./views/', import.meta.url).pathname;
const BUCKET_NAMES: Record<number, string> = {
  60: 'minute',
  300: '5 minutes',
  900: '15 minutes',
  1800: '30 minutes',
  3600: 'hour',
  10800: '3 hours',
  21600: '6 hours',
  43200: '12 hours',
  86400: 'day',
  604800: 'week',
  2592000: '30 days',
};

const time = (v: unknown) => formatValue(v).replace(' UTC', '');
const list = (v: unknown) => (Array.isArray(v) ? v.join(', ') : formatValue(v));

class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export function createConsoleApp(o: ConsoleAppOptions): express.Express {
  const eta = new Eta({ views, cache: true, autoEscape: true });
  const css = readFileSync(new URL('./views/console.css', import.meta.url));
  const now = o.now ?? (() => new Date());
  const alertLabels = q.alertLabelsCache();
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use((_req, res, next) => {
    res.set({
      'content-security-policy':
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'same-origin',
      'strict-transport-security': 'max-age=31536000',
      'cache-control': 'no-store',
    });
    next();
  });
  app.get('/static/console.css', (_req, res) => {
    res.set('cache-control', 'max-age=3600').type('text/css').send(css);
  });
  app.use(
    session({
      name: '__Host-fleetcap.sid',
      store: new RedisStore({ client: o.redis, prefix: `${o.redisPrefix}:console:sess:`, ttl: o.idleSeconds }),
      secret: o.sessionSecret,
      resave: false,
      saveUninitialized: false,
      rolling: true,
      cookie: { secure: true, httpOnly: true, sameSite: 'strict', path: '/', maxAge: o.idleSeconds * 1000 },
    }),
  );
  app.use(express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 50 }));
  const csrf = csrfSync({ getTokenFromRequest: (req) => (req.body as Record<string, string> | undefined)?._csrf });
  app.use(csrf.csrfSynchronisedProtection);

  const timed =
    (page: string, handler: (req: Request, res: Response) => Promise<void>) =>
    async (req: Request, res: Response, next: NextFunction) => {
      const end = o.metrics.pages.startTimer({ page });
      try {
        await handler(req, res);
      } catch (err) {
        next(err);
      } finally {
        end({ status: String(res.statusCode) });
      }
    };

  const render = (req: Request, res: Response, view: string, data: Record<string, unknown>, status = 200) => {
    const html = eta.render(view, {
      ...data,
      user: res.locals.user as SignedInUser | undefined,
      csrfToken: csrf.generateToken(req),
    });
    res.status(status).type('html').send(html);
  };

  const refuse = (req: Request, res: Response, err: HttpRefusal) => {
    o.metrics.refused.inc({ reason: err.reason });
    render(
      req,
      res,
      'message',
      { title: 'Refused', heading: 'Refused', message: err.message, kind: 'refused' },
      err.status,
    );
  };

  // Sign-in pages are the only ones without an account.
  app.get('/sign-in', (req, res) => render(req, res, 'sign-in', { title: 'Sign in' }));
  app.post(
    '/sign-in',
    timed('sign-in', async (req, res) => {
      const body = req.body as Record<string, unknown>;
      const result = await checkSignIn(o.own, body.name, body.password);
      o.metrics.signIns.inc({ outcome: result.outcome });
      if (!result.user) {
        o.log.warn(
          {
            code: 'console.sign-in.refused',
            outcome: result.outcome,
            name: String(body.name ?? '').slice(0, 64),
            remote: req.socket.remoteAddress,
          },
          'a sign-in was refused',
        );
        render(req, res, 'sign-in', { title: 'Sign in', error: 'Wrong name or password.', name: body.name }, 401);
        return;
      }
      const user = result.user;
      // A new session id at sign-in: a session id planted before it is worth nothing after.
      await new Promise<void>((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
      req.session.userId = user.id;
      await o.own.execute('UPDATE console_user SET last_sign_in_at = NOW(3) WHERE id = ?', [user.id]);
      o.log.info({ user: user.name, role: user.role }, 'signed in');
      res.redirect(303, '/fleet');
    }),
  );

  // Every other page needs an account that is still enabled (looked up again at each request).
  app.use((req: Request, res: Response, next: NextFunction) => {
    const id = req.session.userId;
    if (id === undefined) return res.redirect(303, '/sign-in');
    currentUser(o.own, id).then((user) => {
      if (!user) {
        req.session.userId = undefined;
        return res.redirect(303, '/sign-in');
      }
      res.locals.user = user;
      next();
    }, next);
  });

  app.post('/sign-out', (req, res, next) => {
    req.session.destroy((err) => (err ? next(err) : res.redirect(303, '/sign-in')));
  });
  app.get('/', (_req, res) => res.redirect(303, '/fleet'));

  app.get(
    '/fleet',
    timed('fleet', async (req, res) => {
      const agents = (await q.fleet(o.report)).map((a) => ({
        ...a,
        sql: a.config ? configUpdateSql(a.agent_id, a.config) : configInsertSql(a.agent_id),
      }));
      const user = res.locals.user as SignedInUser;
      render(req, res, 'fleet', { title: 'Fleet', page: 'fleet', agents, isAdmin: user.role === 'admin' });
    }),
  );

  app.get(
    '/alerts',
    timed('alerts', async (req, res) => {
      const raw = req.query as Record<string, unknown>;
      const form = Object.fromEntries(
        ['from', 'to', 'label', 'agent', 'source', 'target'].map((k) => [k, typeof raw[k] === 'string' ? raw[k] : '']),
      );
      const labels = await alertLabels(o.report);
      let f: ReturnType<typeof parseAlertFilters>;
      try {
        f = parseAlertFilters(raw, now(), o.defaultRangeHours);
      } catch (err) {
        if (!(err instanceof FilterError)) throw err;
        o.metrics.refused.inc({ reason: 'filter' });
        o.log.info(
          { code: 'console.filter.refused', field: err.field, err: err.message },
          'an alerts filter was refused',
        );
        render(req, res, 'alerts', { title: 'Alerts', page: 'alerts', form, labels, error: err.message }, 400);
        return;
      }
      form.from ||= f.from.toISOString().slice(0, 16);
      form.to ||= f.to.toISOString().slice(0, 16);
      const bucket = bucketSeconds(f.from, f.to, 60, q.countsFromRollup(f) ? 3600 : 0);
      const [result, summary, detections] = await Promise.all([
        q.alerts(o.report, f, o.pageRows),
        q.alertSummary(o.report, f, bucket),
        q.detections(o.report, f, o.pageRows),
      ]);
      render(req, res, 'alerts', {
        title: 'Alerts',
        page: 'alerts',
        form,
        labels,
        bucketName: BUCKET_NAMES[bucket] ?? `${bucket} s`,
        chart: labelChartSvg(summary.counts, { from: summary.from, to: summary.to, bucketSeconds: bucket }),
        countedRange:
          summary.from.getTime() !== f.from.getTime() || summary.to.getTime() !== f.to.getTime()
            ? `${time(summary.from)} to ${time(summary.to)} UTC (whole hours)`
            : null,
        summary,
        result,
        detections,
        detectorLabel: f.label !== undefined && (q.DETECTORS as readonly string[]).includes(f.label),
        newest: f.before ? filterQuery({ ...f, before: undefined }) : null,
        next: result.next ? filterQuery({ ...f, before: result.next }) : null,
        time,
        list,
      });
    }),
  );

  const verdictId = (text: string | string[] | undefined): number => {
    if (typeof text !== 'string' || !/^\d{1,19}$/.test(text))
      throw new HttpRefusal(400, 'bad-input', `"${String(text)}" is not a verdict id (the id column of report_alerts)`);
    return Number(text);
  };

  app.get(
    '/sessions/:id',
    timed('session', async (req, res) => {
      const id = verdictId(req.params.id);
      const view = await q.session(o.report, id);
      if (!view) throw new HttpRefusal(404, 'not-found', `no session with verdict id ${id}`);
      const packets = packetLines(await q.sessionPackets(o.report, id));
      render(req, res, 'session', {
        title: `Session ${id}`,
        page: 'session',
        view,
        groups: recordGroups(view.record),
        packets,
        time,
      });
    }),
  );

  app.get(
    '/sessions/:id/pcap',
    timed('pcap', async (req, res) => {
      const id = verdictId(req.params.id);
      const packets = await keptPackets(o.report, [id]);
      if (packets.length === 0)
        throw new HttpRefusal(
          404,
          'not-found',
          `verdict ${id} has no kept packets: only alerts keep theirs, for the days retention_policy says`,
        );
      let file: Buffer;
      try {
        file = pcapOfKeptPackets(packets);
      } catch (err) {
        if (err instanceof KeptPacketsError) throw new HttpRefusal(409, 'bad-input', `verdict ${id}: ${err.message}`);
        throw err;
      }
      res
        .status(200)
        .set({
          'content-type': 'application/vnd.tcpdump.pcap',
          'content-disposition': `attachment; filename="fleetcap-${id}.pcap"`,
        })
        .send(file);
    }),
  );

  const requireAdmin = (res: Response, what: string) => {
    const user = res.locals.user as SignedInUser;
    if (user.role !== 'admin') {
      o.log.warn(
        { code: 'console.forbidden', user: user.name, role: user.role, action: what },
        'a viewer tried an admin action',
      );
      throw new HttpRefusal(403, 'forbidden', `${what} is for admins; ${user.name} is a ${user.role}`);
    }
    return user;
  };

  app.post(
    '/agents/enrol',
    timed('enrol', async (req, res) => {
      const user = requireAdmin(res, 'enrolling an agent');
      const body = req.body as Record<string, unknown>;
      const agentId = String(body.agent_id ?? '').trim();
      const note = String(body.note ?? '').slice(0, 255);
      let enrolled: Awaited<ReturnType<typeof addAgent>>;
      try {
        enrolled = await addAgent(
          o.own as unknown as Parameters<typeof addAgent>[0],
          agentId,
          note || `console: ${user.name}`,
        );
      } catch (err) {
        if ((err as { code?: string }).code !== undefined) throw err;
        throw new HttpRefusal(400, 'bad-input', (err as Error).message);
      }
      o.metrics.agentActions.inc({ action: 'enrol' });
      o.log.info(
        { code: 'console.agent.enrolled', agent: agentId, by: user.name, credential: enrolled.credentialId },
        'enrolled an agent',
      );
      render(req, res, 'message', {
        title: 'Agent enrolled',
        heading: `Agent ${agentId} enrolled`,
        message:
          'Its secret, shown this once (fleetcap stores only its verifiers): put it on the agent host, readable by the listener only.',
        lines: [
          enrolled.secret,
          '',
          `umask 077; printf '%s\\n' '${enrolled.secret}' > /etc/fleetcap/agent.secret`,
          `FLEETCAP_AGENT_ID=${agentId}`,
          'FLEETCAP_AGENT_SECRET_FILE=/etc/fleetcap/agent.secret',
        ],
      });
    }),
  );

  app.post(
    '/agents/:agent/revoke',
    timed('revoke', async (req, res) => {
      const user = requireAdmin(res, 'revoking an agent');
      const agentId = String(req.params.agent);
      let n: number;
      try {
        n = await revokeAgent(o.own as unknown as Parameters<typeof revokeAgent>[0], agentId);
      } catch (err) {
        if ((err as { code?: string }).code !== undefined) throw err;
        throw new HttpRefusal(400, 'bad-input', (err as Error).message);
      }
      o.metrics.agentActions.inc({ action: 'revoke' });
      o.log.info({ code: 'console.agent.revoked', agent: agentId, by: user.name, credentials: n }, 'revoked an agent');
      render(req, res, 'message', {
        title: 'Agent revoked',
        heading: `Agent ${agentId} revoked`,
        message:
          n === 0
            ? `agent ${agentId} had no valid credential`
            : `revoked ${n} credential(s): splitcap refuses its uploads within seconds`,
      });
    }),
  );

  app.use((req: Request, res: Response) => refuse(req, res, new HttpRefusal(404, 'not-found', `no page ${req.path}`)));
  app.use((err: Error & { code?: string }, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof HttpRefusal) return refuse(req, res, err);
    if (err.code === 'EBADCSRFTOKEN' || err === csrf.invalidCsrfTokenError) {
      o.log.warn({ code: 'console.csrf.refused', path: req.path }, 'a form came without its CSRF token');
      return refuse(
        req,
        res,
        new HttpRefusal(
          403,
          'csrf',
          'the form is stale or came from another site (no valid CSRF token): reload the page and send it again',
        ),
      );
    }
    o.log.error({ code: 'console.page.failed', path: req.path, err: err.message }, 'a page failed');
    o.metrics.refused.inc({ reason: 'error' });
    res
      .status(500)
      .type('text')
      .send(`the console could not answer: ${err.message}; see its log (code console.page.failed)\n`);
  });
  return app;
}
