-- A page of history by seq range, with the recorded deltas.
-- KEYS: events, deltas. ARGV: low bound, high bound (ZRANGE BYSCORE syntax), limit,
--   newest ('1': the `limit` newest of the range, replied newest first).
local members
if ARGV[4] == '1' then
  members = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[1], 'BYSCORE', 'REV', 'LIMIT', 0, ARGV[3])
else
  members = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'BYSCORE', 'LIMIT', 0, ARGV[3])
end
return {members, recorded(KEYS[2], members)}
