--[[
  Appends one batch's packets of one session, and decides what to schedule. Atomic per session, so
  several splitcap replicas need no lock; idempotent per batch id, so a retried batch adds nothing.
  splitcap does the per-packet work (member text, sums, min/max) before the call: the script only
  numbers the packets it keeps and updates the session's totals.

  KEYS[1] packets zset   KEYS[2] meta hash   KEYS[3] batches hash   KEYS[4] done marker
  ARGV[1] batch id   ARGV[2] agent id   ARGV[3] max packets per session   ARGV[4] session TTL seconds
  ARGV[5] canonical side (0|1) that sent the batch's first packet of this session
  ARGV[6] first µs in batch (a new occurrence is numbered by it)   ARGV[7] last µs in batch
  ARGV[8] wire bytes in batch   ARGV[9] 1 when a packet of the batch carries TCP FIN or RST
  ARGV[10..] two values per packet, in capture order: capture time µs (the score), member text after
             the sequence number ("cdir:tsUs:wire:payload:flags")

  Returns { status, appended, dropped, reasons, occurrence }
    status   'ok' | 'dup' (batch already applied: reasons are those decided then) | 'done' (already classified)
    reasons  comma-separated schedule reasons to publish: 'delay' (first packet), 'full' (reached max),
             'closed' (TCP FIN or RST); each at most once per session occurrence
]]
local packetsKey, metaKey, batchesKey, doneKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local batchId, agent = ARGV[1], ARGV[2]
local maxPackets, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local npackets = (#ARGV - 9) / 2

local prior = redis.call('HGET', batchesKey, batchId)
if prior then
  return { 'dup', 0, 0, prior, redis.call('HGET', metaKey, 'occurrence') or '0' }
end
if redis.call('EXISTS', doneKey) == 1 then
  return { 'done', 0, npackets, '', '0' }
end

local m = redis.call('HMGET', metaKey, 'packets', 'occurrence', 'first', 'last', 'bytes', 'overflow', 'sched_delay', 'sched_now')
local count = tonumber(m[1]) or 0
local occurrence = m[2]
local fields = {}
if not occurrence then
  -- First packet of this occurrence: its sender is the client (initiator) of the session.
  occurrence = ARGV[6]
  fields = { 'agent', agent, 'initiator', ARGV[5], 'occurrence', occurrence }
end

local keep = math.min(npackets, maxPackets - count)
if keep < 0 then keep = 0 end
if keep > 0 then
  local members = {}
  for i = 1, keep do
    local base = 8 + i * 2
    members[#members + 1] = ARGV[base]
    members[#members + 1] = (count + i) .. ':' .. ARGV[base + 1]
  end
  redis.call('ZADD', packetsKey, unpack(members))
end
count = count + keep
local dropped = npackets - keep

-- Times and bytes cover every packet seen; only the first maxPackets are kept for analysis.
local first, last = tonumber(m[3]), tonumber(m[4])
local batchFirst, batchLast = tonumber(ARGV[6]), tonumber(ARGV[7])
if not first or batchFirst < first then first = batchFirst end
if not last or batchLast > last then last = batchLast end

local reasons = {}
local schedDelay, schedNow = m[7], m[8]
if not schedDelay then
  schedDelay = '1'
  reasons[#reasons + 1] = 'delay'
end
if not schedNow then
  if count >= maxPackets then
    schedNow = 'full'
    reasons[#reasons + 1] = 'full'
  elseif ARGV[9] == '1' then
    schedNow = 'closed'
    reasons[#reasons + 1] = 'closed'
  end
  if schedNow then
    fields[#fields + 1] = 'sched_now'
    fields[#fields + 1] = schedNow
  end
end

local n = #fields
fields[n + 1], fields[n + 2] = 'packets', count
fields[n + 3], fields[n + 4] = 'bytes', (tonumber(m[5]) or 0) + tonumber(ARGV[8])
fields[n + 5], fields[n + 6] = 'overflow', (tonumber(m[6]) or 0) + dropped
fields[n + 7], fields[n + 8] = 'sched_delay', schedDelay
fields[n + 9], fields[n + 10] = 'first', string.format('%.0f', first)
fields[n + 11], fields[n + 12] = 'last', string.format('%.0f', last)
redis.call('HSET', metaKey, unpack(fields))
local reasonText = table.concat(reasons, ',')
redis.call('HSET', batchesKey, batchId, reasonText)
-- A safety net, not the normal path: the worker frees the keys once the verdict is stored.
redis.call('EXPIRE', packetsKey, ttl)
redis.call('EXPIRE', metaKey, ttl)
redis.call('EXPIRE', batchesKey, ttl)
return { 'ok', keep, dropped, reasonText, occurrence }
