--[[
  Appends one batch's packets of one session and decides what to schedule, by doing the following:
    - does nothing when this batch id was applied to the session before (a retried batch adds nothing and
      reports the reasons decided the first time); also when the occurrence it was applied to is finished (its batches
      hash went with it) but the connection record still lists the batch id: splitcap records a batch only after
      this script ran for it, so a listed id means an earlier attempt stored it (a retry after a 503 or a kill, coming
      after the verdict: before, it started a second occurrence with the same packets; found by the fault run); or when the session is done
      and no occurrence of it is being stored: classified and its done marker set, or its connection record still
      open (the record takes the packets; a live occurrence takes them whatever the marker); or when the live
      occurrence was loaded by the session-worker for its verdict (load-session-3.lua set its `loaded` field): a packet
      stored now would be in no verdict (the finish deletes it), so, as after the verdict, the connection record takes
      it or it is a counted straggler or new-connection drop. Before, such packets were stored, and when the record
      refused them too (a packet after a capture gap longer than the inactivity timeout starts another connection by
      Zeek's rules, and the record takes no more) they were in no row and no count (found by the fault run);
    - starts a new occurrence when the session has no meta hash yet: agent, Community ID, initiator side and
      occurrence (the first packet's µs) are recorded;
    - numbers and stores the packets that fit under the cap, and counts the others as overflow;
    - widens first/last and adds the bytes of every packet of the batch, kept or not;
    - decides the schedule reasons: 'delay' at the first packet of the occurrence, then at most one of
      'full' (reached the cap) or 'closed' (a TCP FIN or RST), each once per occurrence;
    - records the batch id with its reasons, and sets the TTL safety net on the session's keys.
  A session is one agent's (the keys are named by agent and session key): another agent's batches of the same
  conversation go to keys of their own and never reach this session.
  Atomic per session, so several splitcap replicas need no lock. splitcap does the per-packet work (member
  text, sums, min/max) before the call: the script only numbers the packets it keeps and updates totals.
  Key and field names: lib/src/session-store/layout.ts (sessionKeys, META).

    Input:
      KEYS[1] packets sorted set   (fc:s:{A/K}:p, A = agent id, K = session key)
      KEYS[2] meta hash            (fc:s:{A/K}:m)
      KEYS[3] batches hash         (fc:s:{A/K}:b)
      KEYS[4] done marker          (fc:s:{A/K}:d)
      KEYS[5] connection record    (fc:s:{A/K}:c)

      ARGV[1] batch id
      ARGV[2] agent id (the A of the keys)
      ARGV[3] max packets per session (FLEETCAP_SESSION_MAX_PACKETS)
      ARGV[4] session TTL seconds (FLEETCAP_SESSION_TTL_SECONDS)
      ARGV[5] canonical side (0|1) that sent the batch's first packet of this session
      ARGV[6] first µs in the batch (a new occurrence is numbered by it)
      ARGV[7] last µs in the batch
      ARGV[8] wire bytes in the batch
      ARGV[9] '1' when a packet of the batch carries TCP FIN or RST, else '0'
      ARGV[10] Community ID of the conversation (recorded when the batch starts a new occurrence)
      ARGV[11] packets of the session in the batch (those beyond the ones packed below only count)
      ARGV[12] packets packed in ARGV[13]: at most the first max-packets of the batch's (splitcap trims the rest:
               no session keeps more)
      ARGV[13] those packets in batch order, packed into one string (writer.ts packPackets: one argument per
               session, not two per packet: less for ioredis to encode and Redis to parse), each as: one byte, the
               length of the capture time's text; the capture time µs as text (the score); 4 bytes big-endian,
               the member's length; the member after the sequence number ("dir:tsUs:wire:payload:flags:linktype:"
               and the binary frame, encodePacketRecordTail)

    Output: { status, appended, dropped, reasons, occurrence, communityId }
      status      'ok'   stored
                  'dup'  batch already applied: appended and dropped are 0, reasons are those decided then
                  'done' session already classified (done marker, or its connection record still open), or its
                         live occurrence loaded for its verdict: nothing stored, dropped = the batch's packets
      appended    packets stored by this call
      dropped     packets of the batch not stored (over the cap, or the session is done)
      reasons     comma-separated schedule reasons to publish ('' for none)
      occurrence  the occurrence's first µs, as text ('0' when done)
      communityId the Community ID the occurrence recorded at its start ('' when done)
]]
local packetsKey, metaKey, batchesKey, doneKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local batchId, agent = ARGV[1], ARGV[2]
local maxPackets, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local npackets = tonumber(ARGV[11])
local given = tonumber(ARGV[12])

local prior = redis.call('HGET', batchesKey, batchId)
if prior then
  local stored = redis.call('HMGET', metaKey, 'occurrence', 'community_id')
  return { 'dup', 0, 0, prior, stored[1] or '0', stored[2] or ARGV[10] }
end
local recorded = redis.call('HMGET', KEYS[5], 'batches', 'occurrence')
if recorded[1] and string.find(',' .. recorded[1] .. ',', ',' .. batchId .. ',', 1, true) then
  return { 'dup', 0, 0, '', recorded[2] or '0', ARGV[10] }
end
local m = redis.call('HMGET', metaKey, 'packets', 'occurrence', 'first', 'last', 'bytes', 'overflow', 'sched_delay', 'sched_now', 'community_id', 'loaded')
-- The worker has read the live occurrence for its verdict: what comes now goes where packets after the verdict go.
if m[2] and m[10] then
  return { 'done', 0, npackets, '', '0', '' }
end
-- A live occurrence (its meta hash exists) takes the packets even when a done marker is set: the marker may be the
-- previous occurrence's, set again when its connection record completed after this occurrence had started.
-- With no live occurrence, a finished one's connection record (it lives until the sweeper completes its row) takes
-- the packets, whether or not the done marker is still set: the marker's TTL may run out while the sweeper is away (a
-- worker killed, RabbitMQ restarting), and a second occurrence started then shared its packets with the first row's
-- record (counted twice), or lost those that came after its load (the record refused them; found by the fault run).
if not m[2] and (recorded[2] or redis.call('EXISTS', doneKey) == 1) then
  return { 'done', 0, npackets, '', '0', '' }
end

local count = tonumber(m[1]) or 0
local occurrence = m[2]
local communityId = m[9] or ARGV[10]
local fields = {}
if not occurrence then
  -- First packet of this occurrence: its sender is the client (initiator) of the session.
  occurrence = ARGV[6]
  communityId = ARGV[10]
  fields = { 'agent', agent, 'community_id', communityId, 'initiator', ARGV[5], 'occurrence', occurrence }
end

local keep = math.min(given, maxPackets - count)
if keep < 0 then keep = 0 end
if keep > 0 then
  local members = {}
  local packed, at, score, member = ARGV[13], 1, nil, nil
  for i = 1, keep do
    score, member, at = struct.unpack('>Bc0I4c0', packed, at)
    members[i * 2 - 1] = score
    members[i * 2] = (count + i) .. ':' .. member
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
return { 'ok', keep, dropped, reasonText, occurrence, communityId }
