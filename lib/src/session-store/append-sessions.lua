#!lua flags=allow-cross-slot-keys
--[[
  Appends one batch's packets of several sessions of one Redis master in one call: append-session-5.lua, run for each
  session in turn, exactly as one call of its own would run it (scripts.ts puts that file's text in place of the
  APPEND_SESSION line below, as the body of appendSession, whose KEYS and ARGV are then the session's own). One call
  per batch (per master on a Redis Cluster) instead of one per session: Redis parses, looks up and enters one script
  instead of fifty, and splitcap encodes one command (the ingest design: docs/ARCHITECTURE.md, Ingest round trips).
  Each session stays atomic, as before; the whole call is too, which adds nothing a caller relies on. A session's
  keys share a hash slot, and the flag above lets Redis Cluster run one call over several slots of the master
  (writer.ts groups the sessions by master, lib/src/redis/slot-groups.ts groupByMaster).

    Input (S sessions):
      KEYS[5s-4..5s] session s's five keys, as append-session-5.lua's KEYS[1..5]

      ARGV[1..4] batch id, agent id, max packets per session, session TTL seconds (append-session-5.lua ARGV[1..4])
      ARGV[5..]  nine values per session, in KEYS order: append-session-5.lua's ARGV[5..13]

    Output: one entry per session, in KEYS order: append-session-5.lua's output
]]
local appendSession = function(KEYS, ARGV)
--APPEND_SESSION
end

local fixed = { ARGV[1], ARGV[2], ARGV[3], ARGV[4] }
local sessions = #KEYS / 5
local out = {}
for s = 0, sessions - 1 do
  local k, a = s * 5, 4 + s * 9
  local argv = { fixed[1], fixed[2], fixed[3], fixed[4] }
  for j = 1, 9 do argv[4 + j] = ARGV[a + j] end
  out[s + 1] = appendSession({ KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5] }, argv)
end
return out
