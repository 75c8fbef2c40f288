--[[
  One session's observation for one detector subject (lib/src/detectors/rules.ts: the subject is what an incident is
  about, the member what is counted), atomically, so that any number of detector replicas open each incident once:
    - adds the member to the subject's sliding window (score = the session's start in µs; a member seen again
      keeps its latest time), drops members older than the window, evicts the oldest past the member cap;
    - closes the subject's incident if it was quiet for a window;
    - opens an incident when the window reaches the threshold (mode count) or holds a regular period (mode
      period, as regularPeriod in rules.ts), recording every member's session; else adds this session to the
      open incident;
    - sets every key's TTL, so that a quiet subject leaves nothing behind.
  Times are the sessions' own. Numbers that are µs times are formatted with %.0f (Lua's tostring would round them).
  Key layout: apps/detector/src/redis-detector.ts (subjectKeys); all keys share the {<detector>|<subject>} hash tag.

    Input:
      KEYS[1] window members        sorted set  member -> µs
      KEYS[2] member sessions       hash        member -> "communityId\tagent\ttarget\tsource"
      KEYS[3] incident              hash        id, first, last, sessions, peak, window, version, period, over_*
      KEYS[4] incident targets      set
      KEYS[5] incident sources      set
      KEYS[6] incident agents       set
      KEYS[7] incident evidence     set (Community IDs)

      ARGV[1]  member
      ARGV[2]  session start µs
      ARGV[3]  session end µs
      ARGV[4]  member session "communityId\tagent\ttarget\tsource"
      ARGV[5]  incident id prefix "<detector>|<subject>|"
      ARGV[6]  window µs
      ARGV[7]  threshold
      ARGV[8]  member cap
      ARGV[9]  evidence cap (per list)
      ARGV[10] mode: count | period
      ARGV[11] period mode: shortest period µs
      ARGV[12] period mode: max jitter (share of the median)
      ARGV[13] period mode: starts closer than this many µs are one
      ARGV[14] TTL of every key, seconds
      ARGV[15] 1: a new subject may be created; 0: refuse it (the subject cap is reached)

    Output: { status, incident id, version, members evicted, created, members expired }
      status  0 counted, no incident   1 opened   2 incident updated   -1 new subject refused (cap)
]]
local member, t, lastUs = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local windowUs, threshold, cap, ecap = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local function us(x) return string.format('%.0f', x) end

local exists = redis.call('EXISTS', KEYS[1]) == 1
if not exists and ARGV[15] ~= '1' then return { -1, '', 0, 0, 0, 0 } end

local now = t
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if newest[2] and tonumber(newest[2]) > now then now = tonumber(newest[2]) end
redis.call('ZADD', KEYS[1], 'GT', us(t), member)
redis.call('HSET', KEYS[2], member, ARGV[4])

local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. us(now - windowUs), 'LIMIT', 0, 256)
if #expired > 0 then
  redis.call('ZREM', KEYS[1], unpack(expired))
  redis.call('HDEL', KEYS[2], unpack(expired))
end
local evicted = 0
local n = redis.call('ZCARD', KEYS[1])
if n > cap then
  local popped = redis.call('ZPOPMIN', KEYS[1], n - cap)
  for i = 1, #popped, 2 do
    redis.call('HDEL', KEYS[2], popped[i])
    evicted = evicted + 1
  end
  n = cap
end

local function period()
  local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  local times = {}
  for i = 2, #all, 2 do times[#times + 1] = tonumber(all[i]) end
  table.sort(times)
  local merge = tonumber(ARGV[13])
  local starts = {}
  for _, x in ipairs(times) do
    if #starts == 0 or x - starts[#starts] >= merge then starts[#starts + 1] = x end
  end
  if #starts < threshold then return nil end
  local intervals, sorted = {}, {}
  for i = 2, #starts do
    intervals[#intervals + 1] = starts[i] - starts[i - 1]
    sorted[#sorted + 1] = starts[i] - starts[i - 1]
  end
  table.sort(sorted)
  local median = sorted[math.floor((#sorted - 1) / 2) + 1]
  if median < tonumber(ARGV[11]) then return nil end
  local jitter, regular = tonumber(ARGV[12]) * median, 0
  for _, d in ipairs(intervals) do
    if math.abs(d - median) <= jitter then regular = regular + 1 end
  end
  if regular >= math.ceil(0.8 * #intervals) then return median / 1e6 end
  return nil
end

local function add(key, value, overField)
  if redis.call('SISMEMBER', key, value) == 1 then return end
  if redis.call('SCARD', key) < ecap then
    redis.call('SADD', key, value)
  else
    redis.call('HINCRBY', KEYS[3], overField, 1)
  end
end

local function record(data)
  if not data then return end
  local cid, agent, target, source = string.match(data, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$')
  if not cid then return end
  add(KEYS[4], target, 'over_targets')
  add(KEYS[5], source, 'over_sources')
  add(KEYS[6], agent, 'over_agents')
  add(KEYS[7], cid, 'over_evidence')
end

local incident = redis.call('HMGET', KEYS[3], 'id', 'last')
if incident[1] and t - tonumber(incident[2]) > windowUs then
  redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
  incident[1] = false
end

local status, id, version = 0, '', 0
if not incident[1] then
  local p = nil
  local triggered
  if ARGV[10] == 'period' then
    p = period()
    triggered = p ~= nil
  else
    triggered = n >= threshold
  end
  if triggered then
    local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    id = ARGV[5] .. first[2]
    local fields = { 'id', id, 'first', first[2], 'last', us(now), 'sessions', n, 'peak', n, 'window', n, 'version', 1 }
    if p then
      fields[#fields + 1] = 'period'
      fields[#fields + 1] = tostring(p)
    end
    redis.call('HSET', KEYS[3], unpack(fields))
    local members = redis.call('ZRANGE', KEYS[1], 0, -1)
    local data = redis.call('HMGET', KEYS[2], unpack(members))
    for _, d in ipairs(data) do record(d) end
    status, version = 1, 1
  end
else
  id = incident[1]
  record(ARGV[4])
  redis.call('HINCRBY', KEYS[3], 'sessions', 1)
  local h = redis.call('HMGET', KEYS[3], 'first', 'last', 'peak')
  local fields = { 'window', n }
  if n > tonumber(h[3]) then fields[#fields + 1] = 'peak'; fields[#fields + 1] = n end
  if t < tonumber(h[1]) then fields[#fields + 1] = 'first'; fields[#fields + 1] = us(t) end
  local last = math.max(tonumber(h[2]), lastUs, t)
  fields[#fields + 1] = 'last'
  fields[#fields + 1] = us(last)
  if ARGV[10] == 'period' then
    local p = period()
    if p then fields[#fields + 1] = 'period'; fields[#fields + 1] = tostring(p) end
  end
  redis.call('HSET', KEYS[3], unpack(fields))
  version = redis.call('HINCRBY', KEYS[3], 'version', 1)
  status = 2
end

local ttl = tonumber(ARGV[14])
for i = 1, 7 do redis.call('EXPIRE', KEYS[i], ttl) end
return { status, id, version, evicted, exists and 0 or 1, #expired }
