--[[
  Marks a session occurrence loaded by the session-worker for its verdict, before the worker reads its packets: from
  then on the append script (append-session-5.lua) stores no more packets in it (they would be in no verdict: the
  finish deletes them) and answers 'done', so that they go where packets after the verdict go: the connection record,
  or a counted straggler. Before, a batch stored between the load and the finish was in the verdict of no one, and
  lost when the record refused it too (a capture gap longer than the inactivity timeout; found by the fault run).
  The worker's pipeline runs this before HGETALL and ZRANGE: an append that runs in between stores nothing, so the
  packets read are exactly the ones the verdict holds; a redelivered message loads the same packets again.
  Key and field names: lib/src/session-store/layout.ts (sessionKeys, META).

    Input:
      KEYS[1] meta hash (fc:s:{A/K}:m, A = agent id, K = session key)

      ARGV[1] occurrence the worker loads (the queue message's)

    Output: 1 marked (or marked before); 0 the stored occurrence is another one, or none: nothing written
]]
if redis.call('HGET', KEYS[1], 'occurrence') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'loaded', '1')
return 1
