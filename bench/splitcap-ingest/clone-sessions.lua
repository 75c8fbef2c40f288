--[[
  Bench only (bench/splitcap-ingest/run.ts --active): copies active sessions that splitcap stored, so that the store
  holds 100 k or 1 M of them without uploading every one (the ingest under test then runs against that keyspace).
  A clone of the session tagged {T} is the same five keys (with their TTLs) under the tag {T~n}: nothing reads
  them, they only fill the keyspace and the memory as real active sessions would. Standalone Redis only: the clones'
  keys are built here, not declared (a Cluster would refuse them).

    Input:
      (no KEYS)
      ARGV[1] key prefix up to the hash tag ("<prefix>:s:{")
      ARGV[2] first clone number
      ARGV[3] clones per session
      ARGV[4..] the sessions' hash tags (the text between the braces: agent/key)

    Output: keys copied
]]
local base, first, count = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local kinds = { ':p', ':m', ':b', ':c', ':d' }
local copied = 0
for t = 4, #ARGV do
  local from = base .. ARGV[t] .. '}'
  for n = first, first + count - 1 do
    local to = base .. ARGV[t] .. '~' .. n .. '}'
    for _, kind in ipairs(kinds) do
      copied = copied + redis.call('COPY', from .. kind, to .. kind)
    end
  end
end
return copied
