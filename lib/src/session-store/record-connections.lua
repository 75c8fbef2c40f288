#!lua flags=allow-cross-slot-keys
--[[
  Writes the connection records of several sessions of one batch in one call: record-connection-3.lua, run for each
  session in turn, exactly as one call of its own would run it (scripts.ts puts that file's text in place of the
  RECORD_CONNECTION line below, as the body of recordConnection, whose KEYS and ARGV are then the session's own). One
  call per batch (per slot on a Redis Cluster: the caller groups the sessions, lib/src/redis/slot-groups.ts
  callPerSlot) instead of one per session (docs/ARCHITECTURE.md, Ingest round trips). Each session's compare-and-set
  stays its own: one session's 'stale' does not undo another's write.

    Input (S sessions):
      KEYS[3s-2..3s] session s's three keys, as record-connection-3.lua's KEYS[1..3]

      ARGV[1] wall-clock ms now (record-connection-3.lua ARGV[5])
      ARGV[2] TTL seconds of the records (its ARGV[6])
      ARGV[3] batch id (its ARGV[10])
      ARGV[4..] seven values per session, in KEYS order: its ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[7], ARGV[8],
                ARGV[9] (mode, version read, record, ended, occurrence, initiator, Community ID)

    Output: one entry per session, in KEYS order: record-connection-3.lua's output { status, version }
]]
local recordConnection = function(KEYS, ARGV)
--RECORD_CONNECTION
end

local out = {}
for s = 0, #KEYS / 3 - 1 do
  local k, a = s * 3, 3 + s * 7
  local argv = { ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[1], ARGV[2], ARGV[a + 5], ARGV[a + 6],
    ARGV[a + 7], ARGV[3] }
  out[s + 1] = recordConnection({ KEYS[k + 1], KEYS[k + 2], KEYS[k + 3] }, argv)
end
return out
