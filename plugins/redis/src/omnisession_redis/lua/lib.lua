-- Helpers every script shares (scripts.py puts this file in front of each script).
-- Timestamps, sequence numbers and revisions travel as text and are written back
-- verbatim: a Lua number prints with 14 digits and would lose precision.

local BATCH = 500 -- items per variadic call (Lua's C stack holds ~8000 values)

-- `command key item...` for list[first..last], at most BATCH items per call.
local function batched(command, key, list, first, last)
  local i = first
  while i <= last do
    local j = math.min(last, i + BATCH - 1)
    redis.call(command, key, unpack(list, i, j))
    i = j + 1
  end
end

-- An integer as exact decimal text (doubles hold integers exactly up to 2^53).
local function int_text(number)
  return string.format('%.0f', number)
end

-- The seq text an event member "seq timestamp payload" starts with.
local function seq_of(member)
  return string.match(member, '^(%d+) ')
end

-- PEXPIRE every key of `keys` when ms > 0.
local function expire(ms, keys)
  if ms > 0 then
    for _, key in ipairs(keys) do redis.call('PEXPIRE', key, ms) end
  end
end

-- The six keys of a session from the text they share ("P:s:{A:U:S}:").
local function session_keys(head)
  return {head .. 'm', head .. 'st', head .. 'e', head .. 't', head .. 'd', head .. 'b'}
end

-- Delete a session's six keys; 1 if it existed.
local function drop_session(keys)
  local existed = redis.call('EXISTS', keys[1])
  redis.call('DEL', unpack(keys))
  return existed
end

-- Cluster only: the next logical clock of a session, after `last` (its previous one):
-- the server's microseconds, moved past `last` so that a session's clocks only grow.
-- Scope scripts on other slots apply a value only if its clock is newer.
local function next_clock(last)
  local now = redis.call('TIME')
  local clock = tonumber(now[1]) * 1000000 + tonumber(now[2])
  local previous = tonumber(last or '0') or 0
  if clock <= previous then clock = previous + 1 end
  return int_text(clock)
end

-- The recorded deltas of event `members` (false where none), or {} when the session
-- has no recorded delta at all.
local function recorded(deltas, members)
  if #members == 0 or redis.call('EXISTS', deltas) == 0 then return {} end
  local seqs = {}
  for i, member in ipairs(members) do seqs[i] = seq_of(member) end
  local found = {}
  local i = 1
  while i <= #seqs do
    local j = math.min(#seqs, i + BATCH - 1)
    local part = redis.call('HMGET', deltas, unpack(seqs, i, j))
    for k = 1, j - i + 1 do found[i + k - 1] = part[k] end
    i = j + 1
  end
  return found
end

-- Apply the scope part of a session write to one scope. `scope` = {state=, index=,
-- clocks=, users=}; `spec` = {mode= ('a' add the index entry, 'r' remove it, '' leave
-- it), member=, score=, state_ttl=, index_ttl= (ms), register= (user to add to the
-- users set, or ''), users_ttl=, first=, count= (the name/value pairs are
-- ARGV[first .. first + 2 * count - 1])}.
-- Without `clock` (single node, inside the session's own script) everything is applied.
-- With it (cluster), each value and the index entry is applied only if the clock
-- recorded for it is older, so concurrent writes from sessions on other slots converge
-- to the newest one whatever the order their scope scripts arrive in.
local function apply_scope(scope, spec, clock)
  local first, stop = spec.first, spec.first + 2 * spec.count - 1
  local number = clock and tonumber(clock)
  if spec.count > 0 then
    if not clock then
      batched('HSET', scope.state, ARGV, first, stop)
    else
      for i = first, stop, 2 do
        local field = 'v' .. ARGV[i]
        local old = redis.call('HGET', scope.clocks, field)
        if not old or tonumber(old) < number then
          redis.call('HSET', scope.state, ARGV[i], ARGV[i + 1])
          redis.call('HSET', scope.clocks, field, clock)
        end
      end
    end
  end
  local mode, member = spec.mode, spec.member
  if mode ~= '' then
    local newer = true
    if clock then
      local old = redis.call('HGET', scope.clocks, 'i' .. member)
      newer = not old or tonumber(old) < number
    end
    if newer and mode == 'a' then
      redis.call('ZADD', scope.index, spec.score, member)
      if clock then redis.call('HSET', scope.clocks, 'i' .. member, clock) end
    elseif newer then
      redis.call('ZREM', scope.index, member)
      if clock then redis.call('HDEL', scope.clocks, 'i' .. member) end
    end
    if mode == 'a' and spec.index_ttl > 0 then redis.call('PEXPIRE', scope.index, spec.index_ttl) end
  end
  if spec.state_ttl > 0 then redis.call('PEXPIRE', scope.state, spec.state_ttl) end
  if clock and spec.state_ttl > 0 and spec.index_ttl > 0 then
    redis.call('PEXPIRE', scope.clocks, math.max(spec.state_ttl, spec.index_ttl))
  end
  if scope.users then
    if spec.register ~= '' then redis.call('SADD', scope.users, spec.register) end
    if spec.users_ttl > 0 then redis.call('PEXPIRE', scope.users, spec.users_ttl) end
  end
  return stop + 1
end

-- Cluster: one scope segment of ARGV from `pos`: mode, member, score, state TTL, index
-- TTL, user to register, users TTL, n, then n name/value pairs.
local function segment_at(pos)
  return {mode = ARGV[pos], member = ARGV[pos + 1], score = ARGV[pos + 2],
          state_ttl = tonumber(ARGV[pos + 3]), index_ttl = tonumber(ARGV[pos + 4]),
          register = ARGV[pos + 5], users_ttl = tonumber(ARGV[pos + 6]),
          count = tonumber(ARGV[pos + 7]), first = pos + 8}
end

-- Single node: a session write's scope part, applied in its own script. ARGV from
-- `pos`: mode, score, user state TTL, app state TTL, index TTL, users TTL, user index
-- member, app index member, user to register, n user pairs, m app pairs. KEYS from
-- `at`: user state, user index, app state, app index, app users. Returns the position
-- after it.
local function apply_scopes_here(pos, at)
  local mode, score = ARGV[pos], ARGV[pos + 1]
  local user_ttl, app_ttl = tonumber(ARGV[pos + 2]), tonumber(ARGV[pos + 3])
  local index_ttl, users_ttl = tonumber(ARGV[pos + 4]), tonumber(ARGV[pos + 5])
  local user_count = tonumber(ARGV[pos + 9])
  local user = {mode = mode, member = ARGV[pos + 6], score = score, state_ttl = user_ttl,
                index_ttl = index_ttl, register = '', users_ttl = 0,
                count = user_count, first = pos + 10}
  local next_pos = apply_scope({state = KEYS[at], index = KEYS[at + 1]}, user, nil)
  local app = {mode = mode, member = ARGV[pos + 7], score = score, state_ttl = app_ttl,
               index_ttl = index_ttl, register = ARGV[pos + 8], users_ttl = users_ttl,
               count = tonumber(ARGV[next_pos]), first = next_pos + 1}
  return apply_scope({state = KEYS[at + 2], index = KEYS[at + 3], users = KEYS[at + 4]}, app, nil)
end
