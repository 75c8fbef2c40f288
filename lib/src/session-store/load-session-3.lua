--[[
  Reads a session occurrence for the session-worker's verdict and marks it loaded, in one step: from then on the append
  script (append-session-5.lua) stores no more packets in it (they would be in no verdict: the finish deletes them)
  and answers 'done', so that they go where packets after the verdict go: the connection record, or a counted drop.
  Before, a batch stored between the load and the finish was in no verdict, and lost when the record refused it too (a
  capture gap longer than the inactivity timeout: by Zeek's rules another connection, and the record takes no more;
  found by the fault run). Atomic, so the packets read are exactly the ones the verdict holds; a redelivered message
  reads the same packets again. The packets are read only for the occurrence the message names (else the worker skips
  it), and only then is the mark set.
  Key and field names: lib/src/session-store/layout.ts (sessionKeys, META).

    Input:
      KEYS[1] done marker          (fc:s:{A/K}:d, A = agent id, K = session key)
      KEYS[2] meta hash            (fc:s:{A/K}:m)
      KEYS[3] packets sorted set   (fc:s:{A/K}:p)

      ARGV[1] occurrence the worker loads (the queue message's)

    Output: { done, meta, members }
      done     1 when the done marker is set, else 0
      meta     the meta hash as HGETALL gives it (field, value, ...), as it was before the mark; empty when gone
      members  the packet records in score order when the stored occurrence is ARGV[1]; else empty (nothing marked)
]]
local done = redis.call('EXISTS', KEYS[1])
local meta = redis.call('HGETALL', KEYS[2])
local occurrence
for i = 1, #meta, 2 do
  if meta[i] == 'occurrence' then occurrence = meta[i + 1] end
end
if occurrence ~= ARGV[1] then return { done, meta, {} } end
redis.call('HSET', KEYS[2], 'loaded', '1')
return { done, meta, redis.call('ZRANGE', KEYS[3], 0, -1) }
