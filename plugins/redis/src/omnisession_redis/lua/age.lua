-- The conformance TTL probe: bring every expiry of a session `ms` closer (past: delete).
-- KEYS: the session's six keys. ARGV: ms.
local by = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  local ms = redis.call('PTTL', key)
  if ms > 0 then
    if ms - by <= 0 then redis.call('DEL', key) else redis.call('PEXPIRE', key, ms - by) end
  end
end
return 0
