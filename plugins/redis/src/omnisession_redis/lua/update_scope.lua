-- update_app_state / update_user_state: merge values into one scope.
-- KEYS: state, clocks [, app users (single node user scope: registers the user)]
-- ARGV: cluster ('1': record a clock per value, newer than any it has), state TTL ms,
--   user to register (''), users TTL ms, n name/value pairs.
local cluster, state_ttl = ARGV[1] == '1', tonumber(ARGV[2])
local count = tonumber(ARGV[5])
if count > 0 and not cluster then
  batched('HSET', KEYS[1], ARGV, 6, 5 + 2 * count)
elseif count > 0 then
  local now = tonumber(next_clock(nil))
  for i = 6, 5 + 2 * count, 2 do
    local field = 'v' .. ARGV[i]
    local clock = math.max(now, (tonumber(redis.call('HGET', KEYS[2], field) or '0') or 0) + 1)
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    redis.call('HSET', KEYS[2], field, int_text(clock))
  end
  if state_ttl > 0 then redis.call('PEXPIRE', KEYS[2], state_ttl) end
end
if state_ttl > 0 then redis.call('PEXPIRE', KEYS[1], state_ttl) end
if KEYS[3] and ARGV[3] ~= '' then
  redis.call('SADD', KEYS[3], ARGV[3])
  if tonumber(ARGV[4]) > 0 then redis.call('PEXPIRE', KEYS[3], ARGV[4]) end
end
return 0
