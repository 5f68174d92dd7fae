-- THE write primitive (omnisession.writes.Write), atomically, in the session's slot.
-- KEYS: meta, state, events, times, deltas, base; on a single node also user state,
--   user index, app state, app index, app users (the scopes, in the same script).
-- ARGV: updated_at, created_at ('' if the write cannot create), creation ('n' never,
--   'i' if missing, 'o' only), expected revision (''), truncate_from (''), session TTL
--   ms, k, k events (seq or '', timestamp, payload, recorded delta or ''), n session
--   pairs, base ('-': the session pairs, else m pairs); single node: the scope part
--   (see apply_scopes_here) and want-states ('1': reply the scope states).
-- Reply: {0, revision, first seq (0: none), clock (cluster) or '' [, user, app state]},
--   {1} missing, {2, revision} stale, {3} exists.
local meta, state, events, times, deltas, base = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local found = redis.call('HMGET', meta, 'r', 'n', 'k')
local revision, last = found[1], 0
local fresh = not revision
if fresh then
  if ARGV[3] == 'n' then return {1} end
  redis.call('DEL', state, events, times, deltas, base)
else
  if ARGV[3] == 'o' then return {3} end
  if ARGV[4] ~= '' and ARGV[4] ~= revision then return {2, tonumber(revision)} end
  last = tonumber(found[2])
end
local never_had_events = last == 0

local from = ARGV[5]
if from ~= '' and not fresh then
  local doomed = redis.call('ZRANGE', events, from, '+inf', 'BYSCORE')
  if #doomed > 0 and #doomed == redis.call('ZCARD', events) then
    redis.call('DEL', events, times, deltas)
  elseif #doomed > 0 then
    local seqs = {}
    for i, member in ipairs(doomed) do seqs[i] = seq_of(member) end
    batched('ZREM', times, seqs, 1, #seqs)
    batched('HDEL', deltas, seqs, 1, #seqs)
    redis.call('ZREMRANGEBYSCORE', events, from, '+inf')
  end
end

local count = tonumber(ARGV[7])
local pos = 8
local first_seq = '0'
if count > 0 then
  local members, stamps, texts = {}, {}, {}
  for j = 1, count do
    local seq = ARGV[pos]
    if seq == '' then
      last = last + 1
      seq = int_text(last)
    elseif tonumber(seq) > last then
      last = tonumber(seq)
    end
    if j == 1 then first_seq = seq end
    local stamp = ARGV[pos + 1]
    members[#members + 1] = seq
    members[#members + 1] = seq .. ' ' .. stamp .. ' ' .. ARGV[pos + 2]
    stamps[#stamps + 1] = stamp
    stamps[#stamps + 1] = seq
    if ARGV[pos + 3] ~= '' then
      texts[#texts + 1] = seq
      texts[#texts + 1] = ARGV[pos + 3]
    end
    pos = pos + 4
  end
  batched('ZADD', events, members, 1, #members)
  batched('ZADD', times, stamps, 1, #stamps)
  if #texts > 0 then batched('HSET', deltas, texts, 1, #texts) end
end

local pairs_count = tonumber(ARGV[pos])
local pairs_first, pairs_stop = pos + 1, pos + 2 * pairs_count
if pairs_count > 0 then batched('HSET', state, ARGV, pairs_first, pairs_stop) end
pos = pairs_stop + 1
local base_count = -1
if ARGV[pos] ~= '-' then base_count = tonumber(ARGV[pos]) end
if fresh and base_count >= 0 then
  if base_count > 0 then batched('HSET', base, ARGV, pos + 1, pos + 2 * base_count) end
elseif (fresh or (never_had_events and count == 0)) and pairs_count > 0 then
  -- the base state is the state before the first event
  batched('HSET', base, ARGV, pairs_first, pairs_stop)
end
pos = pos + 1 + math.max(base_count, 0) * 2

local new_revision = 1
if fresh then
  redis.call('HSET', meta, 'c', ARGV[2], 'u', ARGV[1], 'r', 1, 'n', int_text(last))
else
  new_revision = redis.call('HINCRBY', meta, 'r', 1)
  redis.call('HSET', meta, 'u', ARGV[1], 'n', int_text(last))
end
local clock = ''
if #KEYS == 6 then
  clock = next_clock(found[3])
  redis.call('HSET', meta, 'k', clock)
end
expire(tonumber(ARGV[6]), {meta, state, events, times, deltas, base})

if #KEYS == 11 then
  pos = apply_scopes_here(pos, 7)
  if ARGV[pos] == '1' then
    return {0, new_revision, tonumber(first_seq), clock,
            redis.call('HGETALL', KEYS[7]), redis.call('HGETALL', KEYS[9])}
  end
end
return {0, new_revision, tonumber(first_seq), clock}
