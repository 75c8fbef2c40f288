--[[
  Marks a session occurrence (of one agent: the keys are named by agent and session key) done and frees its
  memory, once its verdict row is committed:
    - leaves the session alone when the stored occurrence is another one (a new occurrence started);
    - sets the done marker, with a TTL, to the occurrence: until it expires, late packets (the append script)
      and late messages (the worker) of the same conversation from the same agent do not reopen it;
    - deletes the packets, meta and batches keys;
    - reports how many packets the session gained after the worker loaded it (a batch appended between the load
      and this call): they are not in the verdict's packets, only in the connection record, and are counted.
  Key and field names: lib/src/session-store/layout.ts (sessionKeys, META).

    Input:
      KEYS[1] packets sorted set   (fc:s:{A/K}:p, A = agent id, K = session key)
      KEYS[2] meta hash            (fc:s:{A/K}:m)
      KEYS[3] batches hash         (fc:s:{A/K}:b)
      KEYS[4] done marker          (fc:s:{A/K}:d)

      ARGV[1] occurrence the verdict was for
      ARGV[2] done marker TTL seconds (FLEETCAP_DONE_TTL_SECONDS)
      ARGV[3] packets the verdict saw (kept + overflow when the worker loaded the session)

    Output: { freed, late }
      freed  1 freed; 0 the stored session is another occurrence: left alone
      late   packets seen after the load (kept + overflow now, minus ARGV[3]); 0 when left alone
]]
local m = redis.call('HMGET', KEYS[2], 'occurrence', 'packets', 'overflow')
local current = m[1]
if current and current ~= ARGV[1] then return { 0, 0 } end
local late = 0
if current then
  late = (tonumber(m[2]) or 0) + (tonumber(m[3]) or 0) - (tonumber(ARGV[3]) or 0)
  if late < 0 then late = 0 end
end
redis.call('SET', KEYS[4], ARGV[1], 'EX', tonumber(ARGV[2]))
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return { 1, late }
