#!lua flags=allow-cross-slot-keys,no-writes
--[[
  Reads the connection records and done markers of several sessions in one call: what a pipeline of an HMGET and an
  EXISTS per session read before (record-store.ts readRecords), one script call per batch (per slot on a Redis
  Cluster: the caller groups the sessions, lib/src/redis/slot-groups.ts callPerSlot) instead of two commands per
  session, so that Redis parses one command and splitcap encodes and decodes one (docs/ARCHITECTURE.md, Ingest round
  trips). Read only. Key and field names: lib/src/session-store/layout.ts (sessionKeys, RECORD).

    Input (S sessions):
      KEYS[2s-1] session s's connection record hash (fc:s:{A/K}:c, A = agent id, K = session key)
      KEYS[2s]   session s's done marker            (fc:s:{A/K}:d)

      ARGV[1] unused: '' (every session's input is its keys)

    Output: one entry per session, in KEYS order: the record's fields v, rec, occurrence, initiator, community_id,
      seen_ms, ended, completing (nil where absent: all nil when there is no record), then 1 when the done marker is
      set, else 0
]]
local out = {}
for s = 0, #KEYS / 2 - 1 do
  local r = redis.call('HMGET', KEYS[s * 2 + 1], 'v', 'rec', 'occurrence', 'initiator', 'community_id', 'seen_ms',
    'ended', 'completing')
  r[9] = redis.call('EXISTS', KEYS[s * 2 + 2])
  out[s + 1] = r
end
return out
