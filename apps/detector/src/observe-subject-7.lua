--[[
  The observations of one detector subject in a batch of sessions, in their order (lib/src/detectors/rules.ts: the
  subject is what an incident is about, the member what is counted), atomically, so that any number of detector
  replicas open each incident once. For each observation:
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

      ARGV[1]  incident id prefix "<detector>|<subject>|"
      ARGV[2]  window µs
      ARGV[3]  threshold
      ARGV[4]  member cap
      ARGV[5]  evidence cap (per list)
      ARGV[6]  mode: count | period
      ARGV[7]  period mode: shortest period µs
      ARGV[8]  period mode: max jitter (share of the median)
      ARGV[9]  period mode: starts closer than this many µs are one
      ARGV[10] TTL of every key, seconds
      ARGV[11] 1: a new subject may be created; 0: refuse it (the subject cap is reached)
      ARGV[12] N, the number of observations; then 4 per observation, from ARGV[13]:
               member, session start µs, session end µs, member session "communityId\tagent\ttarget\tsource"

    Output: { status, incident id, version, members evicted, created, members expired, incidents opened }
      status  0 counted, no incident   1 an incident opened   2 the incident was updated   -1 new subject refused (cap)
]]
local windowUs, threshold, cap, ecap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local mode, minPeriod, maxJitter, merge = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local function us(x) return string.format('%.0f', x) end

local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local exists = newest[1] ~= nil
if not exists and ARGV[11] ~= '1' then return { -1, '', 0, 0, 0, 0, 0 } end
local now = 0
if exists then now = tonumber(newest[2]) end

local function period()
  local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  local times = {}
  for i = 2, #all, 2 do times[#times + 1] = tonumber(all[i]) end
  table.sort(times)
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
  if median < minPeriod then return nil end
  local jitter, regular = maxJitter * median, 0
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
local openId, openLast = incident[1], incident[1] and tonumber(incident[2])
local status, id, version, evicted, expiredTotal, opened = 0, '', 0, 0, 0, 0

for i = 0, tonumber(ARGV[12]) - 1 do
  local member, t = ARGV[13 + i * 4], tonumber(ARGV[14 + i * 4])
  local lastUs, data = tonumber(ARGV[15 + i * 4]), ARGV[16 + i * 4]
  if t > now then now = t end
  redis.call('ZADD', KEYS[1], 'GT', us(t), member)
  redis.call('HSET', KEYS[2], member, data)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. us(now - windowUs), 'LIMIT', 0, 256)
  if #expired > 0 then
    redis.call('ZREM', KEYS[1], unpack(expired))
    redis.call('HDEL', KEYS[2], unpack(expired))
    expiredTotal = expiredTotal + #expired
  end
  local n = redis.call('ZCARD', KEYS[1])
  if n > cap then
    local popped = redis.call('ZPOPMIN', KEYS[1], n - cap)
    for k = 1, #popped, 2 do
      redis.call('HDEL', KEYS[2], popped[k])
      evicted = evicted + 1
    end
    n = cap
  end

  if openId and t - openLast > windowUs then
    redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
    openId = nil
  end
  if not openId then
    local p = nil
    local triggered
    if mode == 'period' then
      p = period()
      triggered = p ~= nil
    else
      triggered = n >= threshold
    end
    if triggered then
      local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
      openId = ARGV[1] .. first[2]
      openLast = now
      local fields = { 'id', openId, 'first', first[2], 'last', us(now), 'sessions', n, 'peak', n, 'window', n, 'version', 1 }
      if p then
        fields[#fields + 1] = 'period'
        fields[#fields + 1] = tostring(p)
      end
      redis.call('HSET', KEYS[3], unpack(fields))
      local members = redis.call('ZRANGE', KEYS[1], 0, -1)
      for _, d in ipairs(redis.call('HMGET', KEYS[2], unpack(members))) do record(d) end
      status, id, version, opened = 1, openId, 1, opened + 1
    end
  else
    record(data)
    redis.call('HINCRBY', KEYS[3], 'sessions', 1)
    local h = redis.call('HMGET', KEYS[3], 'first', 'last', 'peak')
    local fields = { 'window', n }
    if n > tonumber(h[3]) then
      fields[#fields + 1] = 'peak'
      fields[#fields + 1] = n
    end
    if t < tonumber(h[1]) then
      fields[#fields + 1] = 'first'
      fields[#fields + 1] = us(t)
    end
    openLast = math.max(tonumber(h[2]), lastUs, t)
    fields[#fields + 1] = 'last'
    fields[#fields + 1] = us(openLast)
    if mode == 'period' then
      local p = period()
      if p then
        fields[#fields + 1] = 'period'
        fields[#fields + 1] = tostring(p)
      end
    end
    redis.call('HSET', KEYS[3], unpack(fields))
    version = redis.call('HINCRBY', KEYS[3], 'version', 1)
    id = openId
    if status == 0 then status = 2 end
  end
end

local ttl = tonumber(ARGV[10])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
if openId then
  for k = 3, 7 do redis.call('EXPIRE', KEYS[k], ttl) end
end
return { status, id, version, evicted, exists and 0 or 1, expiredTotal, opened }
