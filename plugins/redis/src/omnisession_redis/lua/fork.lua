-- Single node: fork a session in one step. A whole fork COPYs the keys; a fork up to
-- an event copies the events kept and rebuilds the state as of it (base + deltas).
-- KEYS: source meta, state, events, times, deltas, base; the target's six; the target's
--   user state, user index, app state, app index, app users
-- ARGV: up_to or '', now, session TTL ms, the scope part (see apply_scopes_here)
-- Reply: {1} source missing, {3} target exists, else {0, state, user state, app state,
--   base}.
if redis.call('EXISTS', KEYS[1]) == 0 then return {1} end
if redis.call('EXISTS', KEYS[7]) == 1 then return {3} end
local source = {KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]}
local target = {KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12]}
redis.call('DEL', target[2], target[3], target[4], target[5], target[6])
local up_to = ARGV[1]
local total = redis.call('ZCARD', source[3])
local whole = up_to == '' or redis.call('ZCOUNT', source[3], '-inf', up_to) == total
if whole then
  for i = 2, 6 do
    if redis.call('EXISTS', source[i]) == 1 then redis.call('COPY', source[i], target[i]) end
  end
else
  local members = redis.call('ZRANGE', source[3], '-inf', up_to, 'BYSCORE')
  local texts = recorded(source[5], members)
  local scored, stamps, kept = {}, {}, {}
  for i, member in ipairs(members) do
    local seq, stamp = string.match(member, '^(%d+) (%S+) ')
    scored[#scored + 1] = seq
    scored[#scored + 1] = member
    stamps[#stamps + 1] = stamp
    stamps[#stamps + 1] = seq
    if texts[i] then
      kept[#kept + 1] = seq
      kept[#kept + 1] = texts[i]
    end
  end
  if #scored > 0 then
    batched('ZADD', target[3], scored, 1, #scored)
    batched('ZADD', target[4], stamps, 1, #stamps)
  end
  if #kept > 0 then batched('HSET', target[5], kept, 1, #kept) end
  local base = redis.call('HGETALL', source[6])
  if #base > 0 then redis.call('COPY', source[6], target[6]) end
  local state = state_as_of(base, texts)
  if #state > 0 then batched('HSET', target[2], state, 1, #state) end
end
local newest = redis.call('ZRANGE', target[3], -1, -1)
local last = '0'
if newest[1] then last = seq_of(newest[1]) end
redis.call('HSET', target[1], 'c', ARGV[2], 'u', ARGV[2], 'r', 1, 'n', last)
expire(tonumber(ARGV[3]), target)
apply_scopes_here(4, 13)
return {0, redis.call('HGETALL', target[2]), redis.call('HGETALL', KEYS[13]),
        redis.call('HGETALL', KEYS[15]), redis.call('HGETALL', target[6])}
