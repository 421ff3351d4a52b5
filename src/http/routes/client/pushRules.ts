// Push rules API (Client-Server "Push Rules: API"): the global ruleset, one rule, and a rule's enabled flag and
// actions. `global` is the only scope.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isRuleKind, type PushRule, type RuleKind } from '../../../pushRules/rules.ts';
import type { RuleBody } from '../../../pushRules/service.ts';
import type { HttpContext } from '../../context.ts';
import { invalidParam } from '../../errors.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { CLIENT_V3, params, query } from './rooms.ts';
import { userDataCall } from './userDataCall.ts';

const ACTIONS_SCHEMA = { type: 'array', items: { type: ['string', 'object'] } } as const;

const RULE_SCHEMA = {
  type: 'object',
  required: ['actions'],
  properties: {
    actions: ACTIONS_SCHEMA,
    conditions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['kind'],
        properties: {
          kind: { type: 'string' },
          key: { type: 'string' },
          pattern: { type: 'string' },
          is: { type: 'string' },
          value: { type: ['string', 'integer', 'boolean', 'null'] },
        },
      },
    },
    pattern: { type: 'string' },
  },
} as const;

const ENABLED_SCHEMA = { type: 'object', required: ['enabled'], properties: { enabled: { type: 'boolean' } } } as const;
const ACTIONS_BODY_SCHEMA = { type: 'object', required: ['actions'], properties: { actions: ACTIONS_SCHEMA } } as const;

const RULE_PATH = `${CLIENT_V3}/pushrules/global/:kind/:ruleId`;

function ruleParams(request: FastifyRequest): { kind: RuleKind; ruleId: string } {
  const { kind = '', ruleId = '' } = params(request);
  if (!isRuleKind(kind)) throw invalidParam(`unknown push rule kind ${kind}`);
  if (ruleId === '') throw invalidParam('the rule id may not be empty');
  return { kind, ruleId };
}

function placementParam(request: FastifyRequest, name: 'before' | 'after'): string | undefined {
  const value = query(request)[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw invalidParam(`${name} must be one rule id`);
  return value;
}

export function registerPushRules(app: FastifyInstance, ctx: HttpContext): void {
  route(app, `${CLIENT_V3}/pushrules/`, {
    GET: async (request) => {
      const { userId } = await ctx.authenticate(request);
      return { global: await ctx.userData.pushRules.ruleset(userId) };
    },
  });

  route(app, `${CLIENT_V3}/pushrules/global/`, {
    GET: async (request) => {
      const { userId } = await ctx.authenticate(request);
      return ctx.userData.pushRules.ruleset(userId);
    },
  });

  /** The authenticated user and the rule the path names (authentication checked first). */
  const ruleRequest = async (request: FastifyRequest) => {
    const { userId } = await ctx.authenticate(request);
    return { userId, ...ruleParams(request) };
  };

  route(app, RULE_PATH, {
    GET: async (request) => {
      const { userId, kind, ruleId } = await ruleRequest(request);
      return userDataCall(() => ctx.userData.pushRules.rule(userId, kind, ruleId));
    },
    PUT: async (request) => {
      const { userId, kind, ruleId } = await ruleRequest(request);
      const before = placementParam(request, 'before');
      const after = placementParam(request, 'after');
      const body = parseBody<RuleBody>(RULE_SCHEMA, request.body);
      await userDataCall(() =>
        ctx.userData.pushRules.put(userId, kind, ruleId, body, { ...(before !== undefined ? { before } : {}), ...(after !== undefined ? { after } : {}) }),
      );
      return {};
    },
    DELETE: async (request) => {
      const { userId, kind, ruleId } = await ruleRequest(request);
      await userDataCall(() => ctx.userData.pushRules.remove(userId, kind, ruleId));
      return {};
    },
  });

  // .../enabled and .../actions: one attribute of a rule, read and set.
  const attribute = <K extends 'enabled' | 'actions'>(
    name: K,
    schema: object,
    set: (userId: string, kind: RuleKind, ruleId: string, value: PushRule[K]) => Promise<void>,
  ) =>
    route(app, `${RULE_PATH}/${name}`, {
      GET: async (request) => {
        const { userId, kind, ruleId } = await ruleRequest(request);
        const rule = await userDataCall(() => ctx.userData.pushRules.rule(userId, kind, ruleId));
        return { [name]: rule[name] };
      },
      PUT: async (request) => {
        const { userId, kind, ruleId } = await ruleRequest(request);
        const value = parseBody<Record<K, PushRule[K]>>(schema, request.body)[name];
        await userDataCall(() => set(userId, kind, ruleId, value));
        return {};
      },
    });
  attribute('enabled', ENABLED_SCHEMA, (userId, kind, ruleId, enabled) => ctx.userData.pushRules.setEnabled(userId, kind, ruleId, enabled));
  attribute('actions', ACTIONS_BODY_SCHEMA, (userId, kind, ruleId, actions) => ctx.userData.pushRules.setActions(userId, kind, ruleId, actions));
}
