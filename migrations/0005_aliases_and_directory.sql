-- Room aliases and the published room directory.
--
-- `room_aliases`: the local aliases (#localpart:our.server) and the room each points to. One alias names one room;
-- a room may have many. `creator` is who created the mapping (the spec lets servers restrict deletion to the
-- creator; room moderators may also delete). Aliases of other servers are never stored here: they belong to their
-- server.
--
-- Whether a room is published in the directory is `rooms.is_public` (migration 0004, set by createRoom with
-- `visibility: public` and by PUT /directory/list/room/{roomId}). The directory listing reads the rooms' current
-- state; the index below keeps "which rooms are published" a cheap scan.
CREATE TABLE room_aliases (
  room_alias text PRIMARY KEY,
  room_id text NOT NULL REFERENCES rooms (room_id),
  creator text NOT NULL,
  created_ts bigint NOT NULL
);

CREATE INDEX room_aliases_by_room ON room_aliases (room_id);

CREATE INDEX rooms_published ON rooms (room_id) WHERE is_public;
