-- One batch of erase_user, on the user's slot. Takes up to `limit` sessions out of the
-- user index; once the index is empty, in the same step, deletes the user scope. So a
-- session listed before that step is erased, and one created after it keeps the scope
-- its own write made.
-- KEYS: user index, user state, user clocks [, app index, app users (single node)]
-- ARGV: limit, session key head "P:s:{A:U:", app index member head "U:", user id
-- Reply: {sessions deleted (single node), done (1/0), session members taken (cluster)}
local index = KEYS[1]
local members = redis.call('ZRANGE', index, 0, tonumber(ARGV[1]) - 1)
local deleted = 0
if #members > 0 then
  batched('ZREM', index, members, 1, #members)
  if #KEYS == 5 then
    local listed = {}
    for i, session in ipairs(members) do
      deleted = deleted + drop_session(session_keys(ARGV[2] .. session .. '}:'))
      listed[i] = ARGV[3] .. session
    end
    batched('ZREM', KEYS[4], listed, 1, #listed)
    members = {}
  end
end
local done = 0
if redis.call('EXISTS', index) == 0 then
  done = 1
  redis.call('DEL', KEYS[2], KEYS[3])
  if #KEYS == 5 then redis.call('SREM', KEYS[5], ARGV[4]) end
end
return {deleted, done, members}
