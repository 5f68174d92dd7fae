-- Cluster: register a user with user: state in the app's users set (for erase_app).
-- KEYS: app users. ARGV: user, users TTL ms.
redis.call('SADD', KEYS[1], ARGV[1])
if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
