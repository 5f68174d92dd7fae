-- The conformance TTL probe: milliseconds left of each of a session's keys (-1: none).
-- KEYS: the session's six keys. Reply: the PTTL of each existing key.
local left = {}
for _, key in ipairs(KEYS) do
  local ms = redis.call('PTTL', key)
  if ms ~= -2 then left[#left + 1] = ms end
end
return left
