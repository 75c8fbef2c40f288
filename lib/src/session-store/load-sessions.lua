#!lua flags=allow-cross-slot-keys
--[[
  Reads and marks loaded several session occurrences of one Redis master in one call: load-session-3.lua, run for each
  session in turn, exactly as one call of its own would run it (scripts.ts puts that file's text in place of the
  LOAD_SESSION line below, as the body of loadSession). One call per slot (on a single Redis: per 64 sessions) instead
  of one per session: Redis parses, looks up and enters one script instead of 64 (the same design as
  append-sessions.lua). Each session stays atomic, as before.

    Input (S sessions):
      KEYS[3s-2..3s] session s's three keys, as load-session-3.lua's KEYS[1..3]

      ARGV[s] session s's occurrence, as load-session-3.lua's ARGV[1]

    Output: one entry per session, in KEYS order: load-session-3.lua's output
]]
local loadSession = function(KEYS, ARGV)
--LOAD_SESSION
end

local out = {}
for s = 0, #KEYS / 3 - 1 do
  local k = s * 3
  out[s + 1] = loadSession({ KEYS[k + 1], KEYS[k + 2], KEYS[k + 3] }, { ARGV[s + 1] })
end
return out
