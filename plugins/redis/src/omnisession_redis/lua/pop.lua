-- Remove and return the newest event.
-- KEYS: meta, state, events, times, deltas, base [, user state, user index, app state,
--   app index, app users (single node)]
-- ARGV: updated_at, session TTL ms [, the scope part (single node, see apply_scopes_here)]
-- Reply: {0} nothing to pop (nothing written), {1, member, clock or ''}.
local keys = {KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]}
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local top = redis.call('ZPOPMAX', KEYS[3])
if #top == 0 then return {0} end
local seq = seq_of(top[1])
redis.call('ZREM', KEYS[4], seq)
redis.call('HDEL', KEYS[5], seq)
redis.call('HINCRBY', KEYS[1], 'r', 1)
redis.call('HSET', KEYS[1], 'u', ARGV[1])
local clock = ''
if #KEYS == 6 then
  clock = next_clock(redis.call('HGET', KEYS[1], 'k'))
  redis.call('HSET', KEYS[1], 'k', clock)
end
expire(tonumber(ARGV[2]), keys)
if #KEYS == 11 then apply_scopes_here(3, 7) end
return {1, top[1], clock}
