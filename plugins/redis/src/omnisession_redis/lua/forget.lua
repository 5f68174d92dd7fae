-- Drop index entries of sessions found missing (expired), each only if its score is
-- still the one the listing saw (a session re-created meanwhile keeps its entry).
-- KEYS: index, clocks. ARGV: member, score, member, score...
for i = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('HDEL', KEYS[2], 'i' .. ARGV[i])
  end
end
return 0
