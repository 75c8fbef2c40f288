--[[
  Appends one batch's packets of one session, and decides what to schedule. Atomic per session, so
  several splitcap replicas need no lock; idempotent per batch id, so a retried batch adds nothing.

  KEYS[1] packets zset   KEYS[2] meta hash   KEYS[3] batches hash   KEYS[4] done marker
  ARGV[1] batch id   ARGV[2] agent id   ARGV[3] max packets per session   ARGV[4] session TTL seconds
  ARGV[5..] five values per packet, in capture order:
            capture time µs, canonical direction (0 a->b, 1 b->a), wire length, payload length, TCP flags

  Returns { status, appended, dropped, reasons, occurrence }
    status   'ok' | 'dup' (batch already applied: reasons are those decided then) | 'done' (already classified)
    reasons  comma-separated schedule reasons to publish: 'delay' (first packet), 'full' (reached max),
             'closed' (TCP FIN or RST); each at most once per session occurrence
]]
local packetsKey, metaKey, batchesKey, doneKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local batchId, agent = ARGV[1], ARGV[2]
local maxPackets, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local npackets = (#ARGV - 4) / 5

local prior = redis.call('HGET', batchesKey, batchId)
if prior then
  return { 'dup', 0, 0, prior, redis.call('HGET', metaKey, 'occurrence') or '0' }
end
if redis.call('EXISTS', doneKey) == 1 then
  return { 'done', 0, npackets, '', '0' }
end

local m = redis.call('HMGET', metaKey, 'packets', 'initiator', 'first', 'last', 'bytes', 'overflow', 'sched_delay', 'sched_now', 'occurrence')
local count = tonumber(m[1]) or 0
local initiator = m[2]
local first, last = tonumber(m[3]), tonumber(m[4])
local bytes, overflow = tonumber(m[5]) or 0, tonumber(m[6]) or 0
local schedDelay, schedNow = m[7], m[8]
local occurrence = m[9]
local reasons = {}

if not initiator then
  -- First packet of this occurrence: its sender is the client (initiator) of the session.
  initiator = ARGV[6]
  occurrence = ARGV[5]
  redis.call('HSET', metaKey, 'agent', agent, 'initiator', initiator, 'occurrence', occurrence)
end

local members = {}
local closing = false
local appended, dropped = 0, 0
for i = 0, npackets - 1 do
  local base = 5 + i * 5
  local ts = tonumber(ARGV[base])
  local flags = tonumber(ARGV[base + 4])
  -- Times and bytes cover every packet seen; only the first maxPackets are kept for analysis.
  bytes = bytes + tonumber(ARGV[base + 2])
  if not first or ts < first then first = ts end
  if not last or ts > last then last = ts end
  if count < maxPackets then
    count = count + 1
    local dir = (ARGV[base + 1] == initiator) and '0' or '1'
    -- The score goes in as the original text: Lua would print a µs timestamp with 14 digits only.
    members[#members + 1] = ARGV[base]
    members[#members + 1] = count .. ':' .. dir .. ':' .. ARGV[base] .. ':' .. ARGV[base + 2] .. ':' .. ARGV[base + 3] .. ':' .. ARGV[base + 4]
    appended = appended + 1
  else
    overflow = overflow + 1
    dropped = dropped + 1
  end
  -- FIN (0x01) or RST (0x04): the conversation is ending, analyse it now.
  if flags % 2 == 1 or math.floor(flags / 4) % 2 == 1 then closing = true end
end

if #members > 0 then redis.call('ZADD', packetsKey, unpack(members)) end

if not schedDelay then
  schedDelay = '1'
  reasons[#reasons + 1] = 'delay'
end
if not schedNow then
  if count >= maxPackets then
    schedNow = 'full'
    reasons[#reasons + 1] = 'full'
  elseif closing then
    schedNow = 'closed'
    reasons[#reasons + 1] = 'closed'
  end
end

local fields = { 'packets', count, 'bytes', bytes, 'overflow', overflow, 'sched_delay', schedDelay,
  'first', string.format('%.0f', first or 0), 'last', string.format('%.0f', last or 0) }
if schedNow then
  fields[#fields + 1] = 'sched_now'
  fields[#fields + 1] = schedNow
end
redis.call('HSET', metaKey, unpack(fields))
local reasonText = table.concat(reasons, ',')
redis.call('HSET', batchesKey, batchId, reasonText)
-- A safety net, not the normal path: the worker frees the keys once the verdict is stored.
redis.call('EXPIRE', packetsKey, ttl)
redis.call('EXPIRE', metaKey, ttl)
redis.call('EXPIRE', batchesKey, ttl)
return { 'ok', appended, dropped, reasonText, occurrence }
