--[[
  Writes one session's connection record (lib/src/session-record/conn-state.ts ConnRecord, serialised) after splitcap
  added a batch's packets to it, as a compare-and-set: splitcap read the record at version V, added the packets in
  JavaScript (the same code as `fleetcap sessions`), and the write only happens when the record is still at V;
  otherwise another splitcap replica (or the sweeper) wrote meanwhile and splitcap reads again. So the record follows
  every packet of the connection across batches, replicas and the verdict, and stays small (no packet list).
    - mode 'start': the session has no record yet: one is created for the occurrence the append stored the batch in,
      while that occurrence is being stored (its meta hash's); not when none is (the verdict is in and the done marker
      expired between the append and this write: a record started then belonged to no occurrence, stayed until its TTL
      and its packets were in no row and no count; found by the fault run), nor when another one is (a retry resumed
      after its occurrence was finished and a new one began: the new one's verdict does not hold these packets);
    - mode 'update': the record read at version V is replaced, unless the sweeper is completing it or it is the
      record of another occurrence than the batch's (ARGV[7], when given);
    - either way, a batch id among the record's latest 16 is a retried batch: nothing is written (its packets are in
      the record already; a retry comes soon after the failed try, the uploader retries its oldest batch first).
  The record outlives the verdict (the finish script leaves it); the sweeper (complete-record-2.lua) removes it.
  Key and field names: lib/src/session-store/layout.ts (sessionKeys, RECORD).

    Input:
      KEYS[1] connection record hash (fc:s:{A/K}:c, A = agent id, K = session key)
      KEYS[2] done marker            (fc:s:{A/K}:d)
      KEYS[3] meta hash              (fc:s:{A/K}:m: the occurrence being stored, written by the append script)

      ARGV[1] mode: 'start' or 'update'
      ARGV[2] version read (update; ignored by start)
      ARGV[3] the record, serialised
      ARGV[4] '1' when a packet of the batch started another connection on the flow (the record takes no more)
      ARGV[5] wall-clock ms now (splitcap's clock)
      ARGV[6] TTL seconds of the record (a safety net: the sweeper removes it)
      ARGV[7] the occurrence (µs) the append stored the batch in; update: '' for any (the append stored nothing: the
              open record of the finished occurrence takes the packets)
      ARGV[8] start: canonical side (0|1) of the record's initiator
      ARGV[9] start: Community ID
      ARGV[10] batch id

    Output: { status, version }
      status   'started' | 'updated'   written; version = the new version
               'stale'                 the record is not at the version read (or exists at a start): read again
               'done'                  the session's connection was completed, the record is another occurrence's,
                                       or (start) the batch's occurrence is not the one being stored: nothing written
               'dup'                   this batch was added to the record before: nothing written
]]
local recordKey, doneKey = KEYS[1], KEYS[2]
local mode = ARGV[1]
local current = redis.call('HMGET', recordKey, 'v', 'completing', 'batches', 'occurrence')
local ttl = tonumber(ARGV[6])
local batchId = ARGV[10]
local recent = current[3] or ''
if current[1] and string.find(',' .. recent .. ',', ',' .. batchId .. ',', 1, true) then
  return { 'dup', tonumber(current[1]) }
end
-- The latest 16 batch ids, newest last (batch ids hold no comma: the upload contract allows A-Z a-z 0-9 . _ : -).
local kept = {}
for id in string.gmatch(recent, '[^,]+') do kept[#kept + 1] = id end
while #kept >= 16 do table.remove(kept, 1) end
kept[#kept + 1] = batchId
local batches = table.concat(kept, ',')

if mode == 'start' then
  if current[1] then return { 'stale', tonumber(current[1]) } end
  -- Only for the occurrence the append stored the batch in, while it is being stored: a done marker then is an older
  -- occurrence's. Another occurrence (one that started after a retry's append, which resumed late) never gets a
  -- record of packets its verdict does not hold.
  local occurrence = redis.call('HGET', KEYS[3], 'occurrence')
  if not occurrence or occurrence ~= ARGV[7] then return { 'done', 0 } end
  redis.call('HSET', recordKey, 'v', 1, 'rec', ARGV[3], 'ended', ARGV[4], 'seen_ms', ARGV[5],
    'occurrence', occurrence, 'initiator', ARGV[8], 'community_id', ARGV[9], 'batches', batches)
  redis.call('EXPIRE', recordKey, ttl)
  return { 'started', 1 }
end

if not current[1] then
  if redis.call('EXISTS', doneKey) == 1 then return { 'done', 0 } end
  return { 'stale', 0 }
end
if current[2] == '1' then return { 'done', 0 } end
-- The record of another occurrence than the batch's (its append stored it in an earlier one, since finished and
-- completed) takes none of it: its packets are in their own occurrence's verdict, or stragglers.
if ARGV[7] ~= '' and current[4] ~= ARGV[7] then return { 'done', 0 } end
if current[1] ~= ARGV[2] then return { 'stale', tonumber(current[1]) } end
local version = redis.call('HINCRBY', recordKey, 'v', 1)
redis.call('HSET', recordKey, 'rec', ARGV[3], 'ended', ARGV[4], 'seen_ms', ARGV[5], 'batches', batches)
redis.call('EXPIRE', recordKey, ttl)
return { 'updated', version }
