// The membership event templates remote servers ask for before joining, leaving or knocking (make_join, make_leave,
// make_knock): the event with our forward extremities as prev_events, the auth events chosen from the current
// state, and the next depth, which the remote server then signs. The template is checked against the auth rules
// first, so that a join the room's rules forbid is refused here rather than after the remote signed it.
import { authTypesForEvent, checkAuth } from '../../protocol/authRules.ts';
import { encodeBase64 } from '../../protocol/base64.ts';
import type { RoomEvent } from '../../protocol/events.ts';
import { stateKey, type StateKey } from '../../protocol/events.ts';
import { computeReferenceHash } from '../../protocol/hashes.ts';
import { domainOf } from '../../protocol/identifiers.ts';
import type { JsonObject, JsonValue } from '../../protocol/json.ts';
import { toRoomEvent } from '../../protocol/pdu.ts';
import type { RoomVersion } from '../../protocol/roomVersions.ts';
import type { EventStore, StoredEvent } from '../../storage/events.ts';
import { MatrixError, forbidden, notFound } from '../../http/errors.ts';
import { roomVersionOf } from './history.ts';
import { authorisingUser, needsAuthorisation } from './restricted.ts';
import { checkServerAcl } from './serverAcl.ts';

export type TemplateMembership = 'join' | 'leave' | 'knock';

export interface TemplateRequest {
  origin: string;
  /** This server: the one that vouches for a restricted join. */
  serverName: string;
  roomId: string;
  userId: string;
  membership: TemplateMembership;
  /** The room versions the asking server supports (`ver`); undefined for make_leave, which has none. */
  supportedVersions?: readonly string[];
  now: number;
}

export const incompatibleRoomVersion = (version: string, message: string) =>
  new MatrixError(400, 'M_INCOMPATIBLE_ROOM_VERSION', message, { room_version: version });

export function asRoomEvent(e: StoredEvent, v: RoomVersion): RoomEvent {
  return toRoomEvent(e.pdu, v, { validate: false, eventId: e.eventId });
}

/** The room's current state as the auth rules read it. */
export async function currentAuthState(events: EventStore, roomId: string, v: RoomVersion): Promise<Map<StateKey, RoomEvent>> {
  const state = await events.currentState(roomId);
  return new Map(state.map((e) => [stateKey(e.type, e.stateKey ?? ''), asRoomEvent(e, v)]));
}

export async function membershipTemplate(events: EventStore, req: TemplateRequest): Promise<{ room_version: string; event: JsonObject }> {
  const room = await events.getRoom(req.roomId);
  if (!room) throw notFound(`Unknown room ${req.roomId}`);
  if (domainOf(req.userId) !== req.origin) throw forbidden(`${req.userId} is not a user of ${req.origin}`);
  await checkServerAcl(events, req.roomId, req.origin);
  const v = roomVersionOf(room);
  if (req.supportedVersions !== undefined && !req.supportedVersions.includes(v.id)) {
    throw incompatibleRoomVersion(v.id, `Your server does not support room version ${v.id}, the version of ${req.roomId}`);
  }
  if (req.membership === 'knock' && !v.knockJoinRule) {
    throw incompatibleRoomVersion(v.id, `Room version ${v.id} does not support knocking`);
  }
  const [state, extremities] = await Promise.all([currentAuthState(events, req.roomId, v), events.forwardExtremities(req.roomId)]);
  const lookup = (type: string, key: string) => state.get(stateKey(type, key));
  const content: JsonObject = { membership: req.membership };
  if (req.membership === 'join' && needsAuthorisation(state, req.userId, v)) {
    content['join_authorised_via_users_server'] = await authorisingUser(events, state, req.userId, req.serverName, v);
  }
  const selectable = { type: 'm.room.member', sender: req.userId, state_key: req.userId, content };
  const authEvents = authTypesForEvent(selectable, v)
    .map((k) => lookup(k.type, k.stateKey))
    .filter((e): e is RoomEvent => e !== undefined);
  const prevEvents = extremities.map((e) => asRoomEvent(e, v));
  const reference = (e: RoomEvent): JsonValue =>
    v.eventFormat === 1 ? [e.event_id, { sha256: encodeBase64(computeReferenceHash(e.pdu ?? {}, v)) }] : e.event_id;
  const template: JsonObject = {
    room_id: req.roomId,
    type: 'm.room.member',
    sender: req.userId,
    state_key: req.userId,
    content,
    origin_server_ts: req.now,
    depth: prevEvents.reduce((max, e) => Math.max(max, e.depth), 0) + 1,
    prev_events: prevEvents.map(reference),
    auth_events: authEvents.map(reference),
  };
  // Like the room writer: `origin` is a top-level key up to room version 10.
  if (v.eventFormat === 1 || !v.implicitRoomCreator) template['origin'] = req.origin;
  const candidate: RoomEvent = {
    event_id: '$template',
    room_id: req.roomId,
    sender: req.userId,
    type: 'm.room.member',
    state_key: req.userId,
    content,
    auth_events: authEvents.map((e) => e.event_id),
    prev_events: prevEvents.map((e) => e.event_id),
    depth: template['depth'] as number,
    origin_server_ts: req.now,
    pdu: template,
  };
  // Our own signature on a restricted join comes at send_join; the rest of the rules apply now.
  const allowed = checkAuth(candidate, lookup, v, { verifier: { isSignedBy: (_e, server) => server === req.serverName } });
  if (!allowed.allowed) throw forbidden(`You are not allowed to ${req.membership === 'leave' ? 'leave' : req.membership} this room: ${allowed.reason}`);
  return { room_version: v.id, event: template };
}
