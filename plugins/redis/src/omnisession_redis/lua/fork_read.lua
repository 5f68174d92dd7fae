-- Cluster: one consistent read of a fork's source (the create runs on the target slot).
-- KEYS: the source's meta, state, events, times, deltas, base. ARGV: up_to or ''.
-- Reply: false if missing, else {event members kept, their recorded deltas ({} if
--   none), base pairs, state pairs (current for a whole fork, else as of up_to)}.
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local members
if ARGV[1] == '' then
  members = redis.call('ZRANGE', KEYS[3], 0, -1)
else
  members = redis.call('ZRANGE', KEYS[3], '-inf', ARGV[1], 'BYSCORE')
end
local texts = recorded(KEYS[5], members)
local base = redis.call('HGETALL', KEYS[6])
local state
if #members == redis.call('ZCARD', KEYS[3]) then
  state = redis.call('HGETALL', KEYS[2])
else
  state = state_as_of(base, texts)
end
return {members, texts, base, state}
