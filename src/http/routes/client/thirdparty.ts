// Third-party lookups (Client-Server API "Third-party Networks"), answered by asking the application services
// that registered the protocol (GET /_matrix/app/v1/thirdparty/...):
//   GET /_matrix/client/v3/thirdparty/protocols, /protocol/{protocol}, /location/{protocol}, /user/{protocol},
//       /location?alias=, /user?userid=
// A protocol offered by several services is one protocol whose instances are all of theirs, each given an
// `instance_id` unique on this server (`<service id>|<network_id>`). A service that fails or answers
// something malformed is left out rather than failing the request.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Registration } from '../../../appservice/registration.ts';
import type { HttpContext } from '../../context.ts';
import { missingParam, notFound } from '../../errors.ts';
import { route } from '../../routes.ts';
import { CLIENT_V3, params } from './rooms.ts';

type JsonRecord = Record<string, unknown>;

const isRecord = (v: unknown): v is JsonRecord => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The request's query to pass on, without the requester's credentials. */
function forwardedQuery(request: FastifyRequest): string {
  const out = new URLSearchParams();
  for (const [key, value] of Object.entries((request.query ?? {}) as Record<string, unknown>)) {
    if (key === 'access_token' || key === 'user_id') continue;
    for (const v of Array.isArray(value) ? value : [value]) if (typeof v === 'string') out.append(key, v);
  }
  const text = out.toString();
  return text === '' ? '' : `?${text}`;
}

/** The protocol as the services describe it, with their instances merged; null when none answered. */
async function protocolInfo(ctx: HttpContext, protocol: string, services: readonly Registration[]): Promise<JsonRecord | null> {
  const answers = await Promise.all(
    services.map(async (reg) => ({ reg, info: await ctx.appservices?.thirdParty(reg, `protocol/${encodeURIComponent(protocol)}`) })),
  );
  let merged: JsonRecord | null = null;
  const instances: JsonRecord[] = [];
  for (const { reg, info } of answers) {
    if (!isRecord(info)) continue;
    merged ??= { ...info };
    for (const instance of Array.isArray(info['instances']) ? info['instances'] : []) {
      if (!isRecord(instance) || typeof instance['network_id'] !== 'string') continue;
      instances.push({ ...instance, instance_id: `${reg.id}|${instance['network_id']}` });
    }
  }
  return merged ? { ...merged, instances } : null;
}

/** Every service's list answer for the path, concatenated. */
async function lookups(ctx: HttpContext, services: readonly Registration[], pathAndQuery: string): Promise<unknown[]> {
  const answers = await Promise.all(services.map((reg) => ctx.appservices?.thirdParty(reg, pathAndQuery)));
  return answers.flatMap((a) => (Array.isArray(a) ? a.filter(isRecord) : []));
}

export function registerThirdParty(app: FastifyInstance, ctx: HttpContext): void {
  const protocolServices = (request: FastifyRequest): { protocol: string; services: Registration[] } => {
    const protocol = params(request)['protocol'] ?? '';
    const services = ctx.appservices?.servicesForProtocol(protocol) ?? [];
    if (services.length === 0) throw notFound(`Unknown protocol ${protocol}`);
    return { protocol, services };
  };
  const withUrl = () => (ctx.appservices?.registrations ?? []).filter((r) => r.url !== null);

  route(app, `${CLIENT_V3}/thirdparty/protocols`, {
    GET: async (request) => {
      await ctx.authenticate(request);
      const protocols = [...new Set(withUrl().flatMap((r) => r.protocols))];
      const out: JsonRecord = {};
      for (const protocol of protocols) {
        const info = await protocolInfo(ctx, protocol, ctx.appservices?.servicesForProtocol(protocol) ?? []);
        if (info) out[protocol] = info;
      }
      return out;
    },
  });

  route(app, `${CLIENT_V3}/thirdparty/protocol/:protocol`, {
    GET: async (request) => {
      await ctx.authenticate(request);
      const { protocol, services } = protocolServices(request);
      const info = await protocolInfo(ctx, protocol, services);
      if (!info) throw notFound(`Unknown protocol ${protocol}`);
      return info;
    },
  });

  for (const kind of ['location', 'user'] as const) {
    route(app, `${CLIENT_V3}/thirdparty/${kind}/:protocol`, {
      GET: async (request) => {
        await ctx.authenticate(request);
        const { protocol, services } = protocolServices(request);
        return lookups(ctx, services, `${kind}/${encodeURIComponent(protocol)}${forwardedQuery(request)}`);
      },
    });
  }

  route(app, `${CLIENT_V3}/thirdparty/location`, {
    GET: async (request) => {
      await ctx.authenticate(request);
      const alias = (request.query as Record<string, unknown>)['alias'];
      if (typeof alias !== 'string' || alias === '') throw missingParam('alias is required');
      return lookups(ctx, withUrl(), `location?alias=${encodeURIComponent(alias)}`);
    },
  });

  route(app, `${CLIENT_V3}/thirdparty/user`, {
    GET: async (request) => {
      await ctx.authenticate(request);
      const userId = (request.query as Record<string, unknown>)['userid'];
      if (typeof userId !== 'string' || userId === '') throw missingParam('userid is required');
      return lookups(ctx, withUrl(), `user?userid=${encodeURIComponent(userId)}`);
    },
  });
}
