-- A session read as one snapshot.
-- KEYS: meta, state, events, times, deltas, base [, user state, app state (single node)]
-- ARGV: last ('' for all), since ('' for none)
-- Reply: false if missing, else {meta, state, event members, their recorded deltas
--   ({} if none), base [, user state, app state]}.
local meta = redis.call('HGETALL', KEYS[1])
if #meta == 0 then return false end
local last, since = ARGV[1], ARGV[2]
local members
if last ~= '' then
  if last == '0' then members = {} else members = redis.call('ZRANGE', KEYS[3], '-' .. last, -1) end
elseif since ~= '' then
  members = {}
  for _, seq in ipairs(redis.call('ZRANGE', KEYS[4], since, '+inf', 'BYSCORE')) do
    local hit = redis.call('ZRANGE', KEYS[3], seq, seq, 'BYSCORE')
    if hit[1] then members[#members + 1] = hit[1] end
  end
else
  members = redis.call('ZRANGE', KEYS[3], 0, -1)
end
local reply = {meta, redis.call('HGETALL', KEYS[2]), members, recorded(KEYS[5], members),
               redis.call('HGETALL', KEYS[6])}
if #KEYS == 8 then
  reply[6] = redis.call('HGETALL', KEYS[7])
  reply[7] = redis.call('HGETALL', KEYS[8])
end
return reply
