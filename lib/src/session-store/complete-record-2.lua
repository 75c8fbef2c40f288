--[[
  The sweeper's steps on a session's connection record (the session-worker, once the connection is over: closed and
  lingered, or idle), in the order that loses no completion when the worker dies between them:
    - 'claim': marks the record read at version V as being completed (splitcap then treats new packets as stragglers
      and writes nothing to it); refused when the record changed since it was read (a packet came: read again);
    - (the worker then UPDATEs the verdict row with the record)
    - 'release': removes the record and sets the done marker (with a TTL) to the occurrence, so that stragglers
      of the completed connection (a late ACK) do not open a new occurrence before it expires.
  A worker that dies after 'claim' leaves the record marked; the redelivered sweep message completes it again.
  Key and field names: lib/src/session-store/layout.ts (sessionKeys, RECORD).

    Input:
      KEYS[1] connection record hash (fc:s:{A/K}:c, A = agent id, K = session key)
      KEYS[2] done marker            (fc:s:{A/K}:d)

      ARGV[1] step: 'claim' or 'release'
      ARGV[2] claim: version read; release: the occurrence
      ARGV[3] release: done marker TTL seconds (FLEETCAP_DONE_TTL_SECONDS)

    Output:
      1  done
      0  claim: the record is gone or at another version (read again); release: the record is of another occurrence
]]
local recordKey, doneKey = KEYS[1], KEYS[2]
if ARGV[1] == 'claim' then
  local version = redis.call('HGET', recordKey, 'v')
  if not version or version ~= ARGV[2] then return 0 end
  redis.call('HINCRBY', recordKey, 'v', 1)
  redis.call('HSET', recordKey, 'completing', '1')
  return 1
end
local occurrence = redis.call('HGET', recordKey, 'occurrence')
if occurrence and occurrence ~= ARGV[2] then return 0 end
redis.call('DEL', recordKey)
redis.call('SET', doneKey, ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
