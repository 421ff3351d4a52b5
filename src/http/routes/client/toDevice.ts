// PUT /sendToDevice/{eventType}/{txnId}.
import type { FastifyInstance } from 'fastify';
import { isValidUserId } from '../../../protocol/identifiers.ts';
import type { ToDeviceMessages } from '../../../userData/toDevice.ts';
import type { HttpContext } from '../../context.ts';
import { badJson } from '../../errors.ts';
import { route } from '../../routes.ts';
import { parseBody } from '../../validate.ts';
import { CLIENT_V3, params } from './rooms.ts';
import { textParam } from './send.ts';

const SEND_BODY = {
  type: 'object',
  required: ['messages'],
  properties: {
    messages: {
      type: 'object',
      additionalProperties: { type: 'object', additionalProperties: { type: 'object' } },
    },
  },
} as const;

export function registerToDevice(app: FastifyInstance, ctx: HttpContext): void {
  route(app, `${CLIENT_V3}/sendToDevice/:eventType/:txnId`, {
    PUT: async (request) => {
      const requester = await ctx.authenticate(request);
      const type = textParam(params(request)['eventType'], 'eventType');
      const txnId = textParam(params(request)['txnId'], 'txnId');
      const { messages } = parseBody<{ messages: ToDeviceMessages }>(SEND_BODY, request.body);
      for (const userId of Object.keys(messages)) {
        if (!isValidUserId(userId)) throw badJson(`messages: ${userId} is not a valid user id`);
      }
      await ctx.userData.toDevice.send(requester, type, txnId, messages);
      return {};
    },
  });
}
