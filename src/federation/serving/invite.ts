// A remote server inviting one of our users (PUT /v2/invite/{roomId}/{eventId}): the invite is checked as the spec
// asks (membershipEvent.ts, and the invite_room_state's format, room and signatures), signed with our key and handed
// back. When this server holds no state of the room (none of our users is in it), the invite is also stored so the
// invited user sees it: the room's row (its version), the invite event at a new position of the `events` stream with
// the invite_room_state in its `unsigned` (not covered by signatures), its local membership row, and a notification
// that wakes the user's /sync. When we do hold the room's state, the inviting server sends the event to the room
// through a transaction as well, and that copy is the one stored (RemoteEventHandler).
import type { Notifier } from '../../notifier.ts';
import { validatePdu } from '../../protocol/eventFormat.ts';
import { computeEventId, computeRoomIdFromCreateEvent } from '../../protocol/eventIds.ts';
import type { RoomEvent } from '../../protocol/events.ts';
import type { JsonObject } from '../../protocol/json.ts';
import { isJsonObject } from '../../protocol/json.ts';
import { checkEventSignedBy, requiredSignatureServers, signEvent } from '../../protocol/pdu.ts';
import type { RoomVersion } from '../../protocol/roomVersions.ts';
import { getRoomVersion } from '../../protocol/roomVersions.ts';
import type { ServerVerifyKeys, SigningKey } from '../../protocol/signing.ts';
import type { RemoteWriteStream } from '../../rooms/writer.ts';
import type { Database } from '../../storage/database.ts';
import { EventStore } from '../../storage/events.ts';
import { badJson, forbidden, invalidParam, notJson } from '../../http/errors.ts';
import { checkMembershipEvent } from './membershipEvent.ts';
import { storeOutOfRoomMembership } from './outOfRoomMembership.ts';
import { checkServerAcl } from './serverAcl.ts';
import { incompatibleRoomVersion } from './templates.ts';

export interface InviteReceiverOptions {
  db: Database;
  /** The room writer's queue for remote writes: ids on the `events` stream, one room at a time. */
  writes: { submitRemote<T>(roomId: string, work: (stream: RemoteWriteStream) => Promise<T>): Promise<T> };
  keys: { getVerifyKeys(server: string, minimumValidUntilTs: number): Promise<ServerVerifyKeys> };
  notifier: Pick<Notifier, 'membershipChanged'>;
  serverName: string;
  signingKey: SigningKey;
  now(): number;
}

export class InviteReceiver {
  private readonly opts: InviteReceiverOptions;
  private readonly events: EventStore;

  constructor(opts: InviteReceiverOptions) {
    this.opts = opts;
    this.events = new EventStore(opts.db);
  }

  async receive(origin: string, roomId: string, eventId: string, body: unknown): Promise<{ event: JsonObject }> {
    const { serverName } = this.opts;
    if (body === undefined) throw notJson('The request body must be a JSON object');
    if (!isJsonObject(body)) throw badJson('The request body must be a JSON object');
    const versionId = body['room_version'];
    if (typeof versionId !== 'string') throw badJson('room_version must be a string');
    if (!isJsonObject(body['event'])) throw badJson('event must be an object');
    const roomState = body['invite_room_state'] ?? [];
    if (!Array.isArray(roomState) || !roomState.every(isJsonObject)) throw badJson('invite_room_state must be a list of events');
    const v = getRoomVersion(versionId);
    if (!v) throw incompatibleRoomVersion(versionId, `This server does not support room version ${versionId}`);
    const keys = (server: string, validAt: number) => this.opts.keys.getVerifyKeys(server, v.enforceKeyValidity ? validAt : 0);
    const event = await checkMembershipEvent(body['event'], v, {
      roomId,
      eventId,
      membership: 'invite',
      origin,
      localServer: serverName,
      exempt: [serverName],
      keys,
    });
    const invitee = event.state_key as string;
    const user = await this.opts.db.query('SELECT 1 FROM users WHERE user_id = $1', [invitee]);
    if (user.rows.length === 0) throw forbidden(`${invitee} is not a user of this server`);
    const known = await this.events.getRoom(roomId);
    if (known && known.version !== v.id) throw invalidParam(`Room ${roomId} has version ${known.version}, not ${v.id}`);
    if (known) await checkServerAcl(this.events, roomId, origin);
    const create = await checkInviteRoomState(roomState, roomId, v, keys);

    // The event as received, with our signature added; `unsigned` (not signed) is left as the inviting server set it.
    const signed = signEvent(event.pdu as JsonObject, v, serverName, this.opts.signingKey);
    await this.opts.writes.submitRemote(roomId, (stream) => this.store(event, signed, roomState, create, v, stream));
    return { event: signed };
  }

  /** Stores the invite unless we hold the room's state (then /send brings it) or have it already. */
  private async store(event: RoomEvent, signed: JsonObject, roomState: JsonObject[], create: JsonObject | undefined, v: RoomVersion, stream: RemoteWriteStream): Promise<void> {
    const roomId = event.room_id;
    const invitee = event.state_key as string;
    if (await this.events.getEvent(event.event_id)) return;
    if (await this.events.currentStateEvent(roomId, 'm.room.create', '')) return;
    const room = await this.events.getRoom(roomId);
    const previous = await this.events.currentStateEvent(roomId, 'm.room.member', invitee);
    const unsigned = isJsonObject(signed['unsigned']) ? signed['unsigned'] : {};
    const pdu: JsonObject = { ...signed, unsigned: { ...unsigned, invite_room_state: roomState } };
    const now = this.opts.now();
    await storeOutOfRoomMembership(this.opts.db, this.opts.notifier, stream, {
      event,
      pdu,
      membership: 'invite',
      replacesState: previous?.eventId ?? null,
      ...(room
        ? {}
        : { newRoom: { version: v.id, creator: typeof create?.['sender'] === 'string' ? create['sender'] : event.sender, isPublic: false, createdTs: now } }),
      now,
    });
  }
}

/**
 * The invite_room_state checks (spec: SHOULD for room version 12, MAY before; applied to all): each entry a PDU of
 * the room's version, in the invite's room, signed by the servers that must sign it; an m.room.create among them.
 * Returns the create event.
 */
async function checkInviteRoomState(
  roomState: readonly JsonObject[],
  roomId: string,
  v: RoomVersion,
  keys: (server: string, validAt: number) => Promise<ServerVerifyKeys>,
): Promise<JsonObject | undefined> {
  let create: JsonObject | undefined;
  for (const pdu of roomState) {
    const format = validatePdu(pdu, v);
    if (!format.ok) throw invalidParam(`An invite_room_state event is not a room version ${v.id} PDU: ${format.reason}`);
    const inRoom = v.roomIdFromCreateEvent && pdu['type'] === 'm.room.create' ? computeRoomIdFromCreateEvent(pdu, v) : pdu['room_id'];
    if (inRoom !== roomId) throw invalidParam(`An invite_room_state event (${computeEventId(pdu, v)}) is not in room ${roomId}`);
    for (const server of requiredSignatureServers(pdu, v)) {
      const ts = typeof pdu['origin_server_ts'] === 'number' ? pdu['origin_server_ts'] : 0;
      const signed = checkEventSignedBy(pdu, v, server, await keys(server, ts));
      if (!signed.ok) throw invalidParam(`An invite_room_state event is not signed by ${server}: ${signed.reason}`);
    }
    if (pdu['type'] === 'm.room.create' && pdu['state_key'] === '') create = pdu;
  }
  if (!create) throw invalidParam('invite_room_state must contain the m.room.create event');
  return create;
}
