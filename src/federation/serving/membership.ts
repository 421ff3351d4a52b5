// The second half of a remote join, leave or knock (v2 send_join, v2 send_leave, v1 send_knock): the remote server
// hands back the template it signed. The event is checked as the spec asks (membershipEvent.ts), counter-signed when
// one of our users authorises a restricted join, and then goes through the same receipt pipeline as any PDU
// (RemoteEventHandler.accept: auth against its auth events, the state before it and the current state, stored in the
// room's writer queue). Only an event that lands in the timeline is answered with success.
import type { RemoteEventHandler } from '../inbound/accept.ts';
import { PduDroppedError } from '../inbound/accept.ts';
import { domainOf } from '../../protocol/identifiers.ts';
import type { JsonObject } from '../../protocol/json.ts';
import { joinAuthorisingServer, signEvent } from '../../protocol/pdu.ts';
import type { RoomVersion } from '../../protocol/roomVersions.ts';
import type { ServerVerifyKeys, SigningKey } from '../../protocol/signing.ts';
import type { Queryable } from '../../storage/database.ts';
import type { EventStore, StoredEvent } from '../../storage/events.ts';
import { forbidden, notFound } from '../../http/errors.ts';
import { authChain } from './authChain.ts';
import { roomVersionOf, servedPdu } from './history.ts';
import { checkMembershipEvent } from './membershipEvent.ts';
import { checkServerAcl } from './serverAcl.ts';
import { strippedStatePdus } from './strippedState.ts';
import { authorisingUser, needsAuthorisation } from './restricted.ts';
import { currentAuthState, incompatibleRoomVersion } from './templates.ts';

export interface MembershipServerOptions {
  db: Queryable;
  events: EventStore;
  remoteEvents: Pick<RemoteEventHandler, 'accept'>;
  keys: { getVerifyKeys(server: string, minimumValidUntilTs: number): Promise<ServerVerifyKeys> };
  serverName: string;
  signingKey: SigningKey;
}

export interface SendJoinResponse {
  origin: string;
  state: JsonObject[];
  auth_chain: JsonObject[];
  event: JsonObject;
  members_omitted: false;
  servers_in_room: string[];
}

export class MembershipServer {
  private readonly opts: MembershipServerOptions;

  constructor(opts: MembershipServerOptions) {
    this.opts = opts;
  }

  /** Checks, (counter-)signs and accepts the event; returns it as stored, with its version. */
  private async admit(
    origin: string,
    roomId: string,
    eventId: string,
    body: unknown,
    membership: 'join' | 'leave' | 'knock',
  ): Promise<{ stored: StoredEvent; version: RoomVersion }> {
    const { events, serverName } = this.opts;
    const room = await events.getRoom(roomId);
    if (!room) throw notFound(`Unknown room ${roomId}`);
    await checkServerAcl(events, roomId, origin);
    const v = roomVersionOf(room);
    if (membership === 'knock' && !v.knockJoinRule) throw incompatibleRoomVersion(v.id, `Room version ${v.id} does not support knocking`);
    const event = await checkMembershipEvent(body, v, {
      roomId,
      eventId,
      membership,
      origin,
      exempt: [serverName],
      keys: (server, validAt) => this.opts.keys.getVerifyKeys(server, v.enforceKeyValidity ? validAt : 0),
    });
    let pdu = event.pdu as JsonObject;
    // A restricted join one of our users authorises carries our signature from here on (the auth rules need it),
    // once we have checked again that the joining user meets the room's conditions.
    if (membership === 'join' && joinAuthorisingServer(pdu, v) === serverName) {
      const state = await currentAuthState(events, roomId, v);
      if (needsAuthorisation(state, event.sender, v)) await authorisingUser(events, state, event.sender, serverName, v);
      pdu = signEvent(pdu, v, serverName, this.opts.signingKey);
    }
    const already = await events.getEvent(eventId);
    if (!already) {
      let result;
      try {
        result = await this.opts.remoteEvents.accept(pdu, { origin, fetchMissing: false });
      } catch (error) {
        if (error instanceof PduDroppedError) throw forbidden(`The ${membership} event was refused: ${error.message}`);
        throw error;
      }
      if (result.rejected !== undefined) throw forbidden(`The ${membership} event is not allowed: ${result.rejected}`);
      if (result.softFailed) throw forbidden(`The ${membership} event is not allowed by the room's current state`);
    }
    const stored = await events.getEvent(eventId);
    if (!stored || stored.roomId !== roomId) throw forbidden(`The ${membership} event was not stored`);
    return { stored, version: v };
  }

  /** PUT /v2/send_join: the room's state before the join and the auth chains of that state and of the join. */
  async sendJoin(origin: string, roomId: string, eventId: string, body: unknown): Promise<SendJoinResponse> {
    const { stored, version } = await this.admit(origin, roomId, eventId, body, 'join');
    const state = await this.opts.events.stateAt(roomId, stored.streamOrdering - 1);
    const chain = await authChain(this.opts.db, [...state.map((e) => e.eventId), eventId]);
    const servers = new Set<string>([this.opts.serverName]);
    for (const e of state) {
      const server = e.type === 'm.room.member' && e.stateKey !== null ? domainOf(e.stateKey) : undefined;
      if (server !== undefined && isJoin(e)) servers.add(server);
    }
    return {
      origin: this.opts.serverName,
      state: state.map((e) => servedPdu(e, version)),
      auth_chain: chain.map((e) => servedPdu(e, version)),
      event: servedPdu(stored, version),
      members_omitted: false,
      servers_in_room: [...servers],
    };
  }

  /** PUT /v2/send_leave: an empty object once the leave is in the room. */
  async sendLeave(origin: string, roomId: string, eventId: string, body: unknown): Promise<Record<string, never>> {
    await this.admit(origin, roomId, eventId, body, 'leave');
    return {};
  }

  /** PUT /v1/send_knock: the room's stripped state (as full PDUs, spec v1.16+) for the knocking user's client. */
  async sendKnock(origin: string, roomId: string, eventId: string, body: unknown): Promise<{ knock_room_state: JsonObject[] }> {
    const { version } = await this.admit(origin, roomId, eventId, body, 'knock');
    return { knock_room_state: await strippedStatePdus(this.opts.events, roomId, version) };
  }
}

function isJoin(e: StoredEvent): boolean {
  const content = e.pdu['content'];
  return typeof content === 'object' && content !== null && !Array.isArray(content) && content['membership'] === 'join';
}
