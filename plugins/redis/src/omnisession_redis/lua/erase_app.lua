-- One batch of erase_app, on the app's slot. Takes up to `limit` sessions out of the
-- app index, remembering their users; once the index is empty, in the same step,
-- deletes the app scope and hands over every user of the app (their scopes go too).
-- KEYS: app index, app state, app clocks, app users
-- ARGV: limit, inline ('1' single node: delete sessions and user scopes here too),
--   session key head "P:s:{A:", user key head "P:u:{A:"
-- Reply: {sessions deleted (single node), done (1/0), members taken, users (when done)}
local index, users = KEYS[1], KEYS[4]
local inline = ARGV[2] == '1'
local members = redis.call('ZRANGE', index, 0, tonumber(ARGV[1]) - 1)
local deleted = 0
if #members > 0 then
  batched('ZREM', index, members, 1, #members)
  local owners = {}
  for i, member in ipairs(members) do
    local user, session = string.match(member, '^([^:]*):(.*)$')
    owners[i] = user
    if inline then
      deleted = deleted + drop_session(session_keys(ARGV[3] .. member .. '}:'))
      redis.call('ZREM', ARGV[4] .. user .. '}:ix', session)
    end
  end
  batched('SADD', users, owners, 1, #owners)
  if inline then members = {} end
end
local done, erased = 0, {}
if redis.call('EXISTS', index) == 0 then
  done = 1
  erased = redis.call('SMEMBERS', users)
  if inline then
    for _, user in ipairs(erased) do
      local head = ARGV[4] .. user .. '}:'
      redis.call('DEL', head .. 'st', head .. 'ix', head .. 'ck')
    end
    erased = {}
  end
  redis.call('DEL', KEYS[2], KEYS[3], users)
end
return {deleted, done, members, erased}
