-- Cluster: drop erased sessions from the app index (erase_user), and the user from the
-- app's users set once the user is gone.
-- KEYS: app index, app clocks, app users. ARGV: user to unregister or '', members...
for i = 2, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('HDEL', KEYS[2], 'i' .. ARGV[i])
end
if ARGV[1] ~= '' then redis.call('SREM', KEYS[3], ARGV[1]) end
return 0
