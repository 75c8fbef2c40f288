--[[
  Marks a session occurrence done and frees its memory, once its verdict row is committed.
  The done marker keeps late packets and late messages of the same conversation from reopening it
  until it expires.

  KEYS[1] packets zset   KEYS[2] meta hash   KEYS[3] batches hash   KEYS[4] done marker
  ARGV[1] occurrence the verdict was for   ARGV[2] done marker TTL seconds
  Returns 1 when freed, 0 when the stored session is another occurrence (left alone).
]]
local current = redis.call('HGET', KEYS[2], 'occurrence')
if current and current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[4], ARGV[1], 'EX', tonumber(ARGV[2]))
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
