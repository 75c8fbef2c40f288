--[[
  Marks a session occurrence (of one agent: the keys are named by agent and session key) done and frees its
  memory, once its verdict row is committed:
    - leaves the session alone when the stored occurrence is another one (a new occurrence started);
    - sets the done marker, with a TTL, to the occurrence: until it expires, late packets (the append script)
      and late messages (the worker) of the same conversation from the same agent do not reopen it;
    - deletes the packets, meta and batches keys.
  Key and field names: lib/src/session-store/layout.ts (sessionKeys, META).

    Input:
      KEYS[1] packets sorted set   (fc:s:{A/K}:p, A = agent id, K = session key)
      KEYS[2] meta hash            (fc:s:{A/K}:m)
      KEYS[3] batches hash         (fc:s:{A/K}:b)
      KEYS[4] done marker          (fc:s:{A/K}:d)

      ARGV[1] occurrence the verdict was for
      ARGV[2] done marker TTL seconds (FLEETCAP_DONE_TTL_SECONDS)

    Output:
      1  freed
      0  the stored session is another occurrence: left alone
]]
local current = redis.call('HGET', KEYS[2], 'occurrence')
if current and current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[4], ARGV[1], 'EX', tonumber(ARGV[2]))
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
