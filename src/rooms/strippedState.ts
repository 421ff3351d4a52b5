// The room state that goes along with an invite or a knock so the user can see what the room is before joining
// (spec "Stripped state"): one list for /sync's invite_state and knock_state and for federation's invite and knock
// room state, so the two cannot drift apart.
export const STRIPPED_STATE_TYPES = [
  'm.room.create',
  'm.room.join_rules',
  'm.room.name',
  'm.room.avatar',
  'm.room.canonical_alias',
  'm.room.topic',
  'm.room.encryption',
] as const;
