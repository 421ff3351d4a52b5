// Rejecting an invite from another server into a room this server holds no state of (InviteReceiver stored only the
// invite): the leave must be made by a server in the room, so we ask the inviting server for a template
// (make_leave), sign it and hand it back (v2 send_leave). Whatever the remote answers, the user's membership becomes
// `leave` here (like Synapse's out-of-band rejection): when the remote server cannot be reached or refuses, a leave
// event made and signed by us alone is stored instead, so a user is never stuck with an invite they cannot reject.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../log.ts';
import type { Notifier } from '../../notifier.ts';
import { computeEventId } from '../../protocol/eventIds.ts';
import { domainOf } from '../../protocol/identifiers.ts';
import type { JsonObject } from '../../protocol/json.ts';
import { isJsonObject } from '../../protocol/json.ts';
import { signEvent, toRoomEvent } from '../../protocol/pdu.ts';
import type { RoomVersion } from '../../protocol/roomVersions.ts';
import { getRoomVersion } from '../../protocol/roomVersions.ts';
import type { SigningKey } from '../../protocol/signing.ts';
import type { RemoteWriteStream } from '../../rooms/writer.ts';
import type { Database } from '../../storage/database.ts';
import { EventStore, type StoredEvent } from '../../storage/events.ts';
import type { FederationFetcher } from '../client.ts';
import { storeOutOfRoomMembership } from './outOfRoomMembership.ts';

export interface InviteRejecterOptions {
  db: Database;
  writes: { submitRemote<T>(roomId: string, work: (stream: RemoteWriteStream) => Promise<T>): Promise<T> };
  fetcher: FederationFetcher;
  notifier: Pick<Notifier, 'membershipChanged'>;
  serverName: string;
  signingKey: SigningKey;
  logger: Logger;
  now(): number;
}

export class RemoteInviteRejecter {
  private readonly opts: InviteRejecterOptions;
  private readonly events: EventStore;

  constructor(opts: InviteRejecterOptions) {
    this.opts = opts;
    this.events = new EventStore(opts.db);
  }

  /** The pending invite of `userId` to a room we hold no state of, or null (then the room writer handles a leave). */
  async remoteInvite(userId: string, roomId: string): Promise<{ invite: StoredEvent; version: RoomVersion } | null> {
    const [member, create, room] = await Promise.all([
      this.events.currentStateEvent(roomId, 'm.room.member', userId),
      this.events.currentStateEvent(roomId, 'm.room.create', ''),
      this.events.getRoom(roomId),
    ]);
    const version = room ? getRoomVersion(room.version) : undefined;
    if (!member || create || !version || !isJsonObject(member.pdu['content']) || member.pdu['content']['membership'] !== 'invite') return null;
    return { invite: member, version };
  }

  /** Rejects the invite through the inviting server, or locally when that fails. */
  async reject(userId: string, roomId: string, reason?: string): Promise<void> {
    const pending = await this.remoteInvite(userId, roomId);
    if (!pending) return;
    const { invite, version } = pending;
    let leave: JsonObject | undefined;
    const server = domainOf(invite.sender);
    if (server !== undefined) {
      try {
        leave = await this.leaveThrough(server, roomId, userId, version, reason);
      } catch (error) {
        this.opts.logger.info({ roomId, server, err: (error as Error).message }, 'rejecting a remote invite through the inviting server failed; rejecting it locally');
      }
    }
    leave ??= this.localLeave(invite, version, reason);
    await this.opts.writes.submitRemote(roomId, (stream) => this.store(leave, invite, version, stream));
  }

  private async leaveThrough(server: string, roomId: string, userId: string, v: RoomVersion, reason?: string): Promise<JsonObject> {
    const { fetcher, serverName, signingKey } = this.opts;
    const made = await fetcher.request(server, {
      method: 'GET',
      path: `/_matrix/federation/v1/make_leave/${encodeURIComponent(roomId)}/${encodeURIComponent(userId)}`,
      signed: true,
    });
    const template = isJsonObject(made.body) ? made.body['event'] : undefined;
    if (made.status !== 200 || !isJsonObject(template)) throw new Error(`make_leave answered ${made.status}`);
    const content = isJsonObject(template['content']) ? template['content'] : {};
    // The spec's checks on a template before signing it.
    if (template['room_id'] !== roomId || template['type'] !== 'm.room.member' || template['sender'] !== userId || template['state_key'] !== userId || content['membership'] !== 'leave') {
      throw new Error('make_leave answered a template that is not our user\'s leave of the room');
    }
    const pdu = signEvent({ ...template, content: { ...content, ...(reason !== undefined ? { reason } : {}) } }, v, serverName, signingKey);
    const eventId = computeEventId(pdu, v);
    const sent = await fetcher.request(server, {
      method: 'PUT',
      path: `/_matrix/federation/v2/send_leave/${encodeURIComponent(roomId)}/${encodeURIComponent(eventId)}`,
      body: pdu,
      signed: true,
    });
    if (sent.status !== 200) throw new Error(`send_leave answered ${sent.status}`);
    return pdu;
  }

  /** A leave after the invite, signed by us alone: it is never sent anywhere, it only ends the invite here. */
  private localLeave(invite: StoredEvent, v: RoomVersion, reason?: string): JsonObject {
    const template: JsonObject = {
      room_id: invite.roomId,
      type: 'm.room.member',
      sender: invite.stateKey as string,
      state_key: invite.stateKey as string,
      content: { membership: 'leave', ...(reason !== undefined ? { reason } : {}) },
      origin_server_ts: this.opts.now(),
      depth: invite.depth + 1,
      prev_events: [invite.eventId],
      auth_events: [invite.eventId],
    };
    if (v.eventFormat === 1) template['event_id'] = `$${randomBytes(12).toString('hex')}:${this.opts.serverName}`;
    if (v.eventFormat === 1 || !v.implicitRoomCreator) template['origin'] = this.opts.serverName;
    return signEvent(template, v, this.opts.serverName, this.opts.signingKey);
  }

  private async store(pdu: JsonObject, invite: StoredEvent, v: RoomVersion, stream: RemoteWriteStream): Promise<void> {
    const event = toRoomEvent(pdu, v, { validate: false });
    const userId = event.state_key as string;
    // Still the same invite (a concurrent rejection, or a new membership, wins otherwise).
    const current = await this.events.currentStateEvent(event.room_id, 'm.room.member', userId);
    if (current?.eventId !== invite.eventId || (await this.events.getEvent(event.event_id))) return;
    await storeOutOfRoomMembership(this.opts.db, this.opts.notifier, stream, {
      event,
      pdu,
      membership: 'leave',
      replacesState: invite.eventId,
      now: this.opts.now(),
    });
  }
}
