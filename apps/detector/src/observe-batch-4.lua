#!lua flags=allow-cross-slot-keys
--[=[
  The observations of a batch of sessions for every detector subject that one Redis master holds (lib/src/detectors/
  rules.ts: the subject is what an incident is about, the member what is counted), atomically, so that any number of
  detector replicas open each incident once. A batch costs one call per master (apps/detector/src/redis-detector.ts
  groups the subjects by bucket, and the buckets by the master that serves their hash tag).

  State: per bucket, detector and generation one hash, fc:det:{b<bucket>}:<detector index>:<generation>, where the
  generation is floor(wall ms / G) with G half the detector's TTL (rounded up) and the TTL two windows and a minute.
  A subject is written to the current generation's hash (and removed from an older one it was found in); it is looked
  up in the current one and the two before, and a hash expires whole three generations after it began, when every
  deadline in it has passed. So state expires with no per-field sweep.
  A subject's value: a 13-digit wall-clock deadline (ms), then either
    'j' <count> ':' <JSON list of observations>  a subject whose observations cannot yet open an incident (fewer than
                                                 the threshold): the caller's JSON is stored as it came, and two such
                                                 lists are joined as text; when the next ones could reach the
                                                 threshold, the stored ones are applied first, as they would have been;
    'm' cmsgpack({ now, member names, member times, member sessions, incident or false })  otherwise.
  Most subjects of a fleet (client-server pairs for beaconing) are seen once: they cost a lookup and a write, no Lua
  table and no msgpack. The members are kept sorted by time, so expiry and the member cap pop from the front; a
  member's session ("communityId\tagent\ttarget\tsource") is kept only until an incident records it. For each
  observation, in order:
    - adds the member to the subject's sliding window (a member seen again keeps its latest time and its newest
      session), drops members older than the window (event time), evicts the oldest past the member cap;
    - closes the subject's incident if it was quiet for a window;
    - opens an incident when the window reaches the threshold (mode count) or holds a regular period (mode period,
      as regularPeriod in rules.ts), recording every member's session; else adds this session to the open incident.
  Subject cap: each hash counts its subjects (field '#n') and keeps its latest deadline ('#d'); the subjects tracked
  are those of the current generation and of the older ones whose latest deadline has not passed. New subjects past
  a detector's cap for the bucket are refused. Numbers that are µs times are formatted with %.0f (Lua's tostring would
  round them).

  Keys: the script builds the hashes' names from ARGV[3] and the buckets; every bucket of a call is served by the
  master KEYS[1] routes the call to (a Cluster client checks that one command's declared keys share a slot, which
  keys of several buckets do not; the flag above lets Redis Cluster run a script over several local slots).

    KEYS[1]  routing key "<prefix>:det:{b<bucket>}" of the call's first bucket (never read or written)

    ARGV[1]  wall clock, ms
    ARGV[2]  JSON, one array per detector described:
             [name, window µs, threshold, member cap, evidence cap, mode (count | period), shortest period µs,
              max jitter (share of the median), merge µs (starts closer are one), TTL ms, subject cap of a bucket,
              generation ms, credential threshold (0: off), UDP port threshold (0: off; absent: off),
              UDP subject threshold (0: off; absent: off)]
             Brute force: members named 'k:<fingerprint>' are distinct credentials, counted apart from the attempts
             (the other members): an incident opens when the attempts reach the threshold or the credentials the
             credential threshold (countTriggers in rules.ts); the incident's counts are the attempts'.
             Vertical scan: members named 'udp/<port>' are UDP ports probed without a reply; an incident also opens
             when their services (runs of consecutive ports, each counted once: udpServiceCount in rules.ts) reach
             the UDP port threshold (they are ports too: the counts include every port).
             Horizontal scan: a subject whose field ends in '|udp/<port>' (one source's UDP probes of one port) opens
             at the UDP subject threshold in place of the threshold (subjectThreshold in rules.ts).
    ARGV[3]  key prefix "<prefix>:det:"
    ARGV[4]  the subjects, one line each ("\n"-separated), grouped by bucket and detector, six tab-separated
             parts: bucket, detector (index into ARGV[2], from 1), field "<detector>|<subject>", observation count,
             what the caller already holds of the subject's open incident ("" or "<id>,<version>,<targets>,<sources>,
             <agents>,<evidence>": the id and version it last saw, the lengths of its four lists), JSON [member,
             session start µs, session end µs, member session, member, ...] (JSON escapes tabs and newlines; fields
             hold none). One argument, not six per subject: each argument costs ioredis and Redis more than the bytes
             do.

    Returns: { per subject with something to say (status not 0, or evictions, or refusals), 5 numbers:
                 subject index (from 1, in ARGV[4]'s order), status, incidents opened, members evicted, observations refused;
               changed incidents: { subject index, id, first, last, sessions, peak, window, version, period,
                                    over targets, over sources, over agents, over evidence,
                                    { targets }, { sources }, { agents }, { evidence }, from } ... }
             The lists of an incident only grow (appended to, capped), so when the caller holds the same incident at
             a version no newer, `from` is 1 and each list holds only the values past the length the caller holds;
             else `from` is 0 and the lists are whole. A scanner's incident changes in every batch: sending its four
             lists whole each time was most of the reply, and of the caller's work.
    status  0 counted, no incident   1 an incident opened   2 the incident was updated   -1 new subject refused (cap)
]=]
local nowMs = tonumber(ARGV[1])
local prefix = ARGV[3]
local function us(x) return string.format('%.0f', x) end

local cfg = {}
for i, d in ipairs(cjson.decode(ARGV[2])) do
  local gen = math.floor(nowMs / d[12])
  cfg[i] = {
    name = d[1], window = d[2], threshold = d[3], cap = d[4], ecap = d[5], period = d[6] == 'period',
    minPeriod = d[7], jitter = d[8], merge = d[9], subjectCap = d[11], gen = gen, cred = d[13] or 0, udp = d[14] or 0,
    udpSubject = d[15] or 0,
    -- Fewer observations than this cannot open an incident (each is one member at most); leastOf() per subject.
    least = math.min(d[3], (d[13] or 0) > 0 and d[13] or d[3], (d[14] or 0) > 0 and d[14] or d[3]),
    -- Below it the mean interval cannot hold a period (period() says why); 1e-9 keeps rounding on the safe side.
    meanFloor = 0.8 * (1 - d[8]) * d[7] * (1 - 1e-9),
    -- Every field this call writes for the detector gets the same deadline.
    deadlineMs = nowMs + d[10], deadline = string.format('%013.0f', nowMs + d[10]),
    -- A generation's hash is read until the end of the second generation after it.
    expireMs = (gen + 3) * d[12] - nowMs + 1000,
  }
end

-- unpack() is bounded by Lua's C stack: long lists go in chunks.
local STEP = 1000
local function hmget(key, list)
  local out = {}
  for i = 1, #list, STEP do
    local part = redis.call('HMGET', key, unpack(list, i, math.min(i + STEP - 1, #list)))
    for j = 1, #part do out[i + j - 1] = part[j] end
  end
  return out
end
local function chunked(cmd, key, list)
  for i = 1, #list, STEP do redis.call(cmd, key, unpack(list, i, math.min(i + STEP - 1, #list))) end
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
  -- At least 80% of the intervals lie within the jitter of the median, so the mean is at least 0.8 (1 - jitter) of
  -- the median, which must reach the shortest period: a mean below that cannot hold a period (as rules.ts), and
  -- needs no sort. A busy pair (a client polling every few seconds) is most of the calls.
  if (starts[#starts] - starts[1]) / (#starts - 1) < c.meanFloor then return nil end
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

-- Runs of consecutive ports among the live 'udp/' members from h on: the UDP services (udpServiceCount in rules.ts).
local function udpServices(mNames, mTimes, live, h)
  local ports = {}
  for j = h, #mTimes do
    local name = mNames[j]
    if live[name] == mTimes[j] and string.sub(name, 1, 4) == 'udp/' then
      ports[#ports + 1] = tonumber(string.sub(name, 5))
    end
  end
  table.sort(ports)
  local runs = 0
  for j = 1, #ports do
    if j == 1 or ports[j] ~= ports[j - 1] + 1 then runs = runs + 1 end
  end
  return runs
end

-- The subject's own threshold: a UDP subject's when the detector has one (subjectThreshold in rules.ts).
local function thresholdOf(c, field)
  if c.udpSubject > 0 and string.find(field, '|udp/%d+$') then return c.udpSubject end
  return c.threshold
end

-- Fewer observations of the subject than this cannot open an incident.
local function leastOf(c, field)
  if c.udpSubject > 0 and string.find(field, '|udp/%d+$') then
    local t = c.udpSubject
    return math.min(t, c.cred > 0 and c.cred or t, c.udp > 0 and c.udp or t)
  end
  return c.least
end

local perSubject, changed = {}, {}

local B, D, F, K, H, O = {}, {}, {}, {}, {}, {}
for b, d, f, k, h, o in
  string.gmatch(ARGV[4], '([^\t\n]*)\t([^\t\n]*)\t([^\t\n]*)\t([^\t\n]*)\t([^\t\n]*)\t([^\n]*)')
do
  local i = #B + 1
  B[i], D[i], F[i], K[i], H[i], O[i] = b, d, f, tonumber(k), h, o
end

-- The part of list `list` past the first `n` values.
local function tail(list, n)
  if n == 0 then return list end
  local out = {}
  for j = n + 1, #list do out[#out + 1] = list[j] end
  return out
end

-- The incident's lists for the caller, who holds `held` ("<id>,<version>,<4 lengths>" or "") of it.
local function lists(inc, held)
  if held ~= '' then
    local id, version, nt, ns, na, ne = string.match(held, '^(.*),(%d+),(%d+),(%d+),(%d+),(%d+)$')
    nt, ns, na, ne = tonumber(nt), tonumber(ns), tonumber(na), tonumber(ne)
    if id == inc[1] and tonumber(version) <= inc[7] and nt <= #inc[9] and ns <= #inc[10] and na <= #inc[11]
      and ne <= #inc[12] then
      return tail(inc[9], nt), tail(inc[10], ns), tail(inc[11], na), tail(inc[12], ne), 1
    end
  end
  return inc[9], inc[10], inc[11], inc[12], 0
end

-- Applies the observations `obs` (4 values each) to the state `st` (or a new one); returns the packed value to
-- store and reports the subject's outcome.
local function apply(si, field, c, st, obs)
  if not st then st = { 0, {}, {}, {}, false } end
  local now, mNames, mTimes, mData, inc = st[1], st[2], st[3], st[4], st[5]
  local live, n, h = {}, #mNames, 1
  for j = 1, n do live[mNames[j]] = mTimes[j] end
  -- Live credential members (brute force), counted apart from the attempts.
  local counting = c.cred > 0
  local nk = 0
  if counting then
    for j = 1, n do
      if string.sub(mNames[j], 1, 2) == 'k:' then nk = nk + 1 end
    end
  end
  -- Live UDP port members (vertical scan), counted apart too but also ports.
  local udp = c.udp > 0
  local nu = 0
  if udp then
    for j = 1, n do
      if string.sub(mNames[j], 1, 4) == 'udp/' then nu = nu + 1 end
    end
  end
  local windowUs, cap, ecap = c.window, c.cap, c.ecap
  local threshold = thresholdOf(c, field)
  local tombstones = false
  local status, opened, evicted = 0, 0, 0
  local sets = inc and setsOf(inc) or nil

  for at = 1, #obs, 4 do
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
      if old == nil and counting and string.sub(member, 1, 2) == 'k:' then nk = nk + 1 end
      if old == nil and udp and string.sub(member, 1, 4) == 'udp/' then nu = nu + 1 end
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
        if counting and string.sub(name, 1, 2) == 'k:' then nk = nk - 1 end
        if udp and string.sub(name, 1, 4) == 'udp/' then nu = nu - 1 end
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
        -- Services are never more than ports: the count of ports rules most windows out first.
        triggered = n - nk >= threshold or (counting and nk >= c.cred)
          or (udp and nu >= c.udp and udpServices(mNames, mTimes, live, h) >= c.udp)
      end
      if triggered then
        local firstUs = nil
        for j = h, #mTimes do
          if live[mNames[j]] == mTimes[j] then
            firstUs = mTimes[j]
            break
          end
        end
        local na = n - nk
        inc = { field .. '|' .. us(firstUs), firstUs, now, na, na, na, 1, pr or false, {}, {}, {}, {}, 0, 0, 0, 0 }
        sets = setsOf(inc)
        for j = h, #mTimes do
          if live[mNames[j]] == mTimes[j] then record(inc, sets, ecap, mData[j]) end
        end
        status, opened = 1, opened + 1
      end
    else
      record(inc, sets, ecap, data)
      -- A credential is no further session: the attempt member of the same session counted it.
      if not (counting and string.sub(member, 1, 2) == 'k:') then inc[4] = inc[4] + 1 end
      inc[6] = n - nk
      if n - nk > inc[5] then inc[5] = n - nk end
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
  if status ~= 0 or evicted > 0 then
    perSubject[#perSubject + 1] = si
    perSubject[#perSubject + 1] = status
    perSubject[#perSubject + 1] = opened
    perSubject[#perSubject + 1] = evicted
    perSubject[#perSubject + 1] = 0
  end
  if status == 1 or status == 2 then
    local targets, sources, agents, evidence, from = lists(inc, H[si])
    changed[#changed + 1] = {
      si, inc[1], us(inc[2]), us(inc[3]), inc[4], inc[5], inc[6], inc[7], inc[8] and tostring(inc[8]) or '',
      inc[13], inc[14], inc[15], inc[16], targets, sources, agents, evidence, from,
    }
  end
  return c.deadline .. 'm' .. cmsgpack.pack({ now, nNames, nTimes, nData, inc })
end

-- The subjects from..to (one bucket and detector).
local function group(from, to)
  local c = cfg[tonumber(D[from])]
  local base = prefix .. '{b' .. B[from] .. '}:' .. D[from] .. ':'
  local count = to - from + 1
  local keys = { base .. c.gen, base .. (c.gen - 1), base .. (c.gen - 2) }
  local values, where, nums, latest = {}, {}, {}, {}
  local missing = {}
  for i = 1, count do missing[i] = i end
  for g = 1, 3 do
    local ask = { '#n', '#d' }
    for _, i in ipairs(missing) do ask[#ask + 1] = F[from + i - 1] end
    local got = hmget(keys[g], ask)
    nums[g], latest[g] = tonumber(got[1]) or 0, tonumber(got[2]) or 0
    local still = {}
    for j, i in ipairs(missing) do
      local v = got[j + 2]
      if v then
        values[i], where[i] = v, g
      else
        still[#still + 1] = i
      end
    end
    missing = still
  end
  local tracked = nums[1]
  for g = 2, 3 do
    if latest[g] >= nowMs then tracked = tracked + nums[g] end
  end

  local writes, moved = {}, { {}, {}, {} }
  for i = 1, count do
    local si = from + i - 1
    local field, k, obsJson = F[si], K[si], O[si]
    local least = leastOf(c, field)
    local v, g = values[i], where[i]
    local refused = false
    if not v then
      if tracked >= c.subjectCap then
        refused = true
        perSubject[#perSubject + 1] = si
        perSubject[#perSubject + 1] = -1
        perSubject[#perSubject + 1] = 0
        perSubject[#perSubject + 1] = 0
        perSubject[#perSubject + 1] = k
      else
        tracked = tracked + 1
        nums[1] = nums[1] + 1
      end
    elseif g ~= 1 then
      -- Moves to the current generation (a subject past its deadline too: as new, but already counted).
      moved[g][#moved[g] + 1] = field
      nums[g] = nums[g] - 1
      nums[1] = nums[1] + 1
    end
    if not refused then
      local value
      if v and tonumber(string.sub(v, 1, 13)) >= nowMs then
        if string.sub(v, 14, 14) == 'j' then
          local colon = string.find(v, ':', 15, true)
          local stored = tonumber(string.sub(v, 15, colon - 1))
          if stored + k < least then
            value = c.deadline .. 'j' .. (stored + k) .. ':' .. string.sub(v, colon + 1, -2) .. ',' .. string.sub(obsJson, 2)
          else
            local obs = cjson.decode(string.sub(v, colon + 1))
            for _, x in ipairs(cjson.decode(obsJson)) do obs[#obs + 1] = x end
            value = apply(si, field, c, nil, obs)
          end
        else
          value = apply(si, field, c, cmsgpack.unpack(string.sub(v, 15)), cjson.decode(obsJson))
        end
      elseif k < least then
        -- Members are counted once each: fewer observations than the threshold cannot open an incident, nor
        -- exceed the member cap (at least the threshold).
        value = c.deadline .. 'j' .. k .. ':' .. obsJson
      else
        value = apply(si, field, c, nil, cjson.decode(obsJson))
      end
      writes[#writes + 1] = field
      writes[#writes + 1] = value
    end
  end

  if #writes > 0 then
    writes[#writes + 1] = '#n'
    writes[#writes + 1] = nums[1]
    writes[#writes + 1] = '#d'
    writes[#writes + 1] = string.format('%.0f', math.max(latest[1], c.deadlineMs))
    chunked('HSET', keys[1], writes)
    redis.call('PEXPIRE', keys[1], c.expireMs)
  end
  for g = 2, 3 do
    if #moved[g] > 0 then
      chunked('HDEL', keys[g], moved[g])
      redis.call('HSET', keys[g], '#n', nums[g])
    end
  end
end

local from = 1
while from <= #B do
  local to = from
  while to < #B and B[to + 1] == B[from] and D[to + 1] == D[from] do to = to + 1 end
  group(from, to)
  from = to + 1
end
return { perSubject, changed }
