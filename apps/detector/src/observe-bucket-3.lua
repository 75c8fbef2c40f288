--[=[
  The observations of a batch of sessions for every detector subject of one bucket (lib/src/detectors/rules.ts: the
  subject is what an incident is about, the member what is counted), atomically, so that any number of detector
  replicas open each incident once. One call covers many subjects: a batch costs one call per bucket it touches,
  not one per subject (apps/detector/src/redis-detector.ts chooses the bucket from the subject).

  A subject's state is one field of the bucket's hash: a 13-digit wall-clock deadline (ms) then, packed with
  cmsgpack, { now, member names, member times, member sessions, incident or false }. The members are kept sorted by
  time, so expiry and the member cap pop from the front; a member's session ("communityId\tagent\ttarget\tsource") is
  kept only until an incident records it. For each observation, in order:
    - adds the member to the subject's sliding window (a member seen again keeps its latest time and its newest
      session), drops members older than the window (event time), evicts the oldest past the member cap;
    - closes the subject's incident if it was quiet for a window;
    - opens an incident when the window reaches the threshold (mode count) or holds a regular period (mode period,
      as regularPeriod in rules.ts), recording every member's session; else adds this session to the open incident.
  Fields past their deadline (a window past the subject's last session, wall time) are swept a few per call (HSCAN
  with the cursor in KEYS[2]); both keys expire after the longest TTL. New subjects past a detector's subject cap
  for this bucket are refused. Numbers that are µs times are formatted with %.0f (Lua's tostring would round them).

    Input (the batch's part as two JSON strings, decoded by cjson in C: one argument per call instead of four per
    observation, which Redis would parse and Lua would intern one by one):
      KEYS[1] subjects        hash  "<detector>|<subject>" -> deadline .. cmsgpack(state)
      KEYS[2] bucket meta     hash  cursor (HSCAN of KEYS[1]), n:<detector> (subjects tracked)

      ARGV[1]  wall clock, ms
      ARGV[2]  JSON, one array per detector described:
               [name, window µs, threshold, member cap, evidence cap, mode (count | period), shortest period µs,
                max jitter (share of the median), merge µs (starts closer are one), TTL ms, subject cap of the bucket]
      ARGV[3]  JSON, one array per subject: [field "<detector>|<subject>", detector (index into ARGV[2], from 1),
               [member, session start µs, session end µs, member session, member, ...]]

    Output: { per subject with something to say (status not 0, or evictions, or refusals), 5 numbers:
                subject index, status, incidents opened, members evicted, observations refused;
              changed incidents: { subject index, id, first, last, sessions, peak, window, version, period,
                                   over targets, over sources, over agents, over evidence,
                                   { targets }, { sources }, { agents }, { evidence } } ... }
      status  0 counted, no incident   1 an incident opened   2 the incident was updated   -1 new subject refused (cap)
]=]
local stateKey, metaKey = KEYS[1], KEYS[2]
local nowMs = tonumber(ARGV[1])
local function us(x) return string.format('%.0f', x) end

local cfg, names = {}, {}
local described = cjson.decode(ARGV[2])
for i, d in ipairs(described) do
  cfg[d[1]] = {
    window = d[2], threshold = d[3], cap = d[4], ecap = d[5], period = d[6] == 'period', minPeriod = d[7],
    jitter = d[8], merge = d[9], ttl = d[10], subjectCap = d[11],
    -- Every field this call writes for the detector gets the same deadline.
    deadline = string.format('%013.0f', nowMs + d[10]),
  }
  names[i] = d[1]
end

local subjects, fields = {}, {}
for i, s in ipairs(cjson.decode(ARGV[3])) do
  subjects[i] = { s[1], names[s[2]], s[3], #s[3] / 4 }
  fields[i] = s[1]
end

-- unpack() is bounded by Lua's C stack: large argument lists go in chunks.
local function chunked(cmd, key, list, step)
  local out = {}
  for i = 1, #list, step do
    local part = redis.call(cmd, key, unpack(list, i, math.min(i + step - 1, #list)))
    if type(part) == 'table' then
      for _, x in ipairs(part) do out[#out + 1] = x end
    end
  end
  return out
end

local metaFields = { 'cursor' }
for _, d in ipairs(names) do metaFields[#metaFields + 1] = 'n:' .. d end
local meta = redis.call('HMGET', metaKey, unpack(metaFields))
local counts = {}
for i, d in ipairs(names) do counts[d] = tonumber(meta[i + 1]) or 0 end

-- Sweep: subjects whose deadline passed leave the hash and the count.
local scanned = redis.call('HSCAN', stateKey, meta[1] or '0', 'COUNT', math.max(16, 2 * #subjects))
local gone = {}
for i = 1, #scanned[2], 2 do
  local f, v = scanned[2][i], scanned[2][i + 1]
  if tonumber(string.sub(v, 1, 13)) < nowMs then
    gone[#gone + 1] = f
    local d = string.match(f, '^([^|]*)')
    if counts[d] and counts[d] > 0 then counts[d] = counts[d] - 1 end
  end
end
if #gone > 0 then chunked('HDEL', stateKey, gone, 1000) end

local values = {}
if #fields > 0 then
  for i = 1, #fields, 1000 do
    local part = redis.call('HMGET', stateKey, unpack(fields, i, math.min(i + 999, #fields)))
    for j = 1, #fields - i + 1 do
      if j > 1000 then break end
      values[i + j - 1] = part[j]
    end
  end
end

local function setsOf(inc)
  local sets = {}
  for li = 9, 12 do
    local set = {}
    for _, x in ipairs(inc[li]) do set[x] = true end
    sets[li] = set
  end
  return sets
end

local function add(inc, sets, ecap, li, value)
  local set = sets[li]
  if set[value] then return end
  if #inc[li] < ecap then
    set[value] = true
    inc[li][#inc[li] + 1] = value
  else
    inc[li + 4] = inc[li + 4] + 1
  end
end

local function record(inc, sets, ecap, data)
  if not data or data == '' then return end
  local cid, agent, target, source = string.match(data, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$')
  if not cid then return end
  add(inc, sets, ecap, 9, target)
  add(inc, sets, ecap, 10, source)
  add(inc, sets, ecap, 11, agent)
  add(inc, sets, ecap, 12, cid)
end

-- As regularPeriod in rules.ts, over the live members from h on (sorted by time).
local function period(c, mNames, mTimes, live, h)
  local starts = {}
  for j = h, #mTimes do
    local x = mTimes[j]
    if live[mNames[j]] == x and (#starts == 0 or x - starts[#starts] >= c.merge) then starts[#starts + 1] = x end
  end
  if #starts < c.threshold then return nil end
  local intervals, sorted = {}, {}
  for j = 2, #starts do
    intervals[#intervals + 1] = starts[j] - starts[j - 1]
    sorted[#sorted + 1] = starts[j] - starts[j - 1]
  end
  table.sort(sorted)
  local median = sorted[math.floor((#sorted - 1) / 2) + 1]
  if median < c.minPeriod then return nil end
  local jitter, regular = c.jitter * median, 0
  for _, d in ipairs(intervals) do
    if math.abs(d - median) <= jitter then regular = regular + 1 end
  end
  if regular >= math.ceil(0.8 * #intervals) then return median / 1e6 end
  return nil
end

local perSubject, changed, writes = {}, {}, {}

for si, s in ipairs(subjects) do
  local field, c, obs, k = s[1], cfg[s[2]], s[3], s[4]
  local v = values[si]
  local st = nil
  if v then
    if tonumber(string.sub(v, 1, 13)) >= nowMs then st = cmsgpack.unpack(string.sub(v, 14)) end
  end
  local status, opened, evicted = 0, 0, 0
  if not st and not v then
    if counts[s[2]] >= c.subjectCap then
      status = -1
    else
      counts[s[2]] = counts[s[2]] + 1
    end
  end
  if status == -1 then
    perSubject[#perSubject + 1] = si
    perSubject[#perSubject + 1] = -1
    perSubject[#perSubject + 1] = 0
    perSubject[#perSubject + 1] = 0
    perSubject[#perSubject + 1] = k
  else
    if not st then st = { 0, {}, {}, {}, false } end
    local now, mNames, mTimes, mData, inc = st[1], st[2], st[3], st[4], st[5]
    local live, n, h = {}, #mNames, 1
    for j = 1, n do live[mNames[j]] = mTimes[j] end
    local windowUs, cap, ecap = c.window, c.cap, c.ecap
    local tombstones = false

    local sets = inc and setsOf(inc) or nil

    for o = 0, k - 1 do
      local at = o * 4 + 1
      local member, t, lastUs, data = obs[at], obs[at + 1], obs[at + 2], obs[at + 3]
      if t > now then now = t end
      local old = live[member]
      if old == nil or t > old then
        if old ~= nil then
          n = n - 1
          tombstones = true
        end
        local j = #mTimes
        if j < h or mTimes[j] <= t then
          mNames[j + 1], mTimes[j + 1], mData[j + 1] = member, t, data
        else
          while j >= h and mTimes[j] > t do j = j - 1 end
          table.insert(mNames, j + 1, member)
          table.insert(mTimes, j + 1, t)
          table.insert(mData, j + 1, data)
        end
        live[member] = t
        n = n + 1
      else
        for j = #mNames, h, -1 do
          if mNames[j] == member and mTimes[j] == old then
            mData[j] = data
            break
          end
        end
      end
      local cutoff = now - windowUs
      while h <= #mTimes and (mTimes[h] < cutoff or n > cap) do
        local name = mNames[h]
        if live[name] == mTimes[h] then
          live[name] = nil
          if mTimes[h] >= cutoff then evicted = evicted + 1 end
          n = n - 1
        end
        h = h + 1
      end

      if inc and t - inc[3] > windowUs then inc = false end
      if not inc then
        local pr, triggered = nil, false
        if c.period then
          -- Fewer live starts than the threshold cannot hold a period (merging only lowers the count).
          if n >= c.threshold then pr = period(c, mNames, mTimes, live, h) end
          triggered = pr ~= nil
        else
          triggered = n >= c.threshold
        end
        if triggered then
          local firstUs = nil
          for j = h, #mTimes do
            if live[mNames[j]] == mTimes[j] then
              firstUs = mTimes[j]
              break
            end
          end
          inc = { field .. '|' .. us(firstUs), firstUs, now, n, n, n, 1, pr or false, {}, {}, {}, {}, 0, 0, 0, 0 }
          sets = setsOf(inc)
          for j = h, #mTimes do
            if live[mNames[j]] == mTimes[j] then record(inc, sets, ecap, mData[j]) end
          end
          status, opened = 1, opened + 1
        end
      else
        record(inc, sets, ecap, data)
        inc[4] = inc[4] + 1
        inc[6] = n
        if n > inc[5] then inc[5] = n end
        if t < inc[2] then inc[2] = t end
        inc[3] = math.max(inc[3], lastUs, t)
        if c.period then
          local pr = period(c, mNames, mTimes, live, h)
          if pr then inc[8] = pr end
        end
        inc[7] = inc[7] + 1
        if status == 0 then status = 2 end
      end
    end

    -- Compact: live members only; their sessions are dropped once an incident recorded them.
    local nNames, nTimes, nData = mNames, mTimes, mData
    if h > 1 or tombstones or inc then
      nNames, nTimes, nData = {}, {}, {}
      for j = h, #mTimes do
        if live[mNames[j]] == mTimes[j] then
          nNames[#nNames + 1] = mNames[j]
          nTimes[#nTimes + 1] = mTimes[j]
          nData[#nData + 1] = inc and '' or mData[j]
        end
      end
    end
    writes[#writes + 1] = field
    writes[#writes + 1] = c.deadline .. cmsgpack.pack({ now, nNames, nTimes, nData, inc })
    if status ~= 0 or evicted > 0 then
      perSubject[#perSubject + 1] = si
      perSubject[#perSubject + 1] = status
      perSubject[#perSubject + 1] = opened
      perSubject[#perSubject + 1] = evicted
      perSubject[#perSubject + 1] = 0
    end
    if status == 1 or status == 2 then
      changed[#changed + 1] = {
        si, inc[1], us(inc[2]), us(inc[3]), inc[4], inc[5], inc[6], inc[7], inc[8] and tostring(inc[8]) or '',
        inc[13], inc[14], inc[15], inc[16], inc[9], inc[10], inc[11], inc[12],
      }
    end
  end
end

if #writes > 0 then chunked('HSET', stateKey, writes, 1000) end
local metaWrites = { 'cursor', scanned[1] }
local ttl = 0
for _, d in ipairs(names) do
  metaWrites[#metaWrites + 1] = 'n:' .. d
  metaWrites[#metaWrites + 1] = counts[d]
  if cfg[d].ttl > ttl then ttl = cfg[d].ttl end
end
redis.call('HSET', metaKey, unpack(metaWrites))
redis.call('PEXPIRE', stateKey, ttl)
redis.call('PEXPIRE', metaKey, ttl)
return { perSubject, changed }
