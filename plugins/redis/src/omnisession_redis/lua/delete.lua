-- Delete sessions; with a cutoff only those whose updated_at is still below it (purge).
-- KEYS: per session its six keys, and on a single node its user and app index (8 each).
-- ARGV: cutoff or '', keys per session (6 or 8), then per session: user index member,
--   app index member.
-- Reply: {sessions deleted, clock of the (one, cluster) deleted session or ''}.
local cutoff, width = ARGV[1], tonumber(ARGV[2])
local deleted, clock = 0, ''
for group = 0, #KEYS / width - 1 do
  local at = group * width
  local found = redis.call('HMGET', KEYS[at + 1], 'u', 'k')
  local idle = found[1] and (cutoff == '' or tonumber(found[1]) < tonumber(cutoff))
  if idle or (cutoff == '' and width == 8) then
    if found[1] then deleted = deleted + 1 end
    if width == 6 then clock = next_clock(found[2]) end
    redis.call('DEL', KEYS[at + 1], KEYS[at + 2], KEYS[at + 3], KEYS[at + 4], KEYS[at + 5],
               KEYS[at + 6])
    if width == 8 then
      redis.call('ZREM', KEYS[at + 7], ARGV[3 + 2 * group])
      redis.call('ZREM', KEYS[at + 8], ARGV[4 + 2 * group])
    end
  end
end
return {deleted, clock}
