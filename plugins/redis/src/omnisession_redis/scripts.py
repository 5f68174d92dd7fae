"""The Lua scripts: every contract write is one ``EVALSHA``.

Session scripts take ``KEYS = [meta, state, events, times]`` and, on a single
node, also ``[user state, user index, app state, app index]``: with eight keys
they apply the user and app scopes in the same atomic script. On a cluster
those keys live in other slots, so the session script gets four keys and the
store runs :data:`SCOPE` on the user's and the app's slots afterwards.

Common ``ARGV``: ``[1]`` now (the client's clock, as ``repr(float)``),
``[2]`` the session TTL in ms (``0``: none), ``[3]`` the index where the
operation's own arguments start; ``ARGV[4 .. ARGV[3]-1]`` are the user and the
app scope segments (single node only), each::

    mode ('a' add/refresh the index entry, 'r' remove it, '' leave it),
    index member, index score, state TTL ms, index TTL ms, n, n field/value pairs

Timestamps travel as strings and are written back verbatim: Lua numbers would
print them with 14 digits and lose precision.

Replies start with a status: 0 ok, 1 session not found, 2 stale revision
(followed by the actual revision), 3 already exists.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = [
    "ADD_ITEMS",
    "APPEND",
    "CLEAR",
    "CREATE",
    "DELETE",
    "GET",
    "POP",
    "SCOPE",
    "Script",
]


@dataclass(frozen=True)
class Script:
    """A Lua script and its SHA1, for ``EVALSHA`` with an ``EVAL`` fallback on NOSCRIPT."""

    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


_PRELUDE = r"""
local function touch(m, now)
  local old = redis.call('HGET', m, 'u')
  if old and tonumber(old) >= tonumber(now) then return old end
  redis.call('HSET', m, 'u', now)
  return now
end

local function expire_session()
  local ms = tonumber(ARGV[2])
  if ms > 0 then
    for k = 1, 4 do redis.call('PEXPIRE', KEYS[k], ms) end
  end
end

local function set_pairs(key, o)
  local n = tonumber(ARGV[o])
  for j = 0, n - 1 do
    redis.call('HSET', key, ARGV[o + 1 + 2 * j], ARGV[o + 2 + 2 * j])
  end
  return o + 1 + 2 * n
end

local function scope(stkey, ixkey, i, score)
  local mode = ARGV[i]
  local member = ARGV[i + 1]
  if score == nil then score = ARGV[i + 2] end
  local st_ttl = tonumber(ARGV[i + 3])
  local ix_ttl = tonumber(ARGV[i + 4])
  local after = set_pairs(stkey, i + 5)
  if mode == 'a' then
    redis.call('ZADD', ixkey, 'GT', score, member)
    if ix_ttl > 0 then redis.call('PEXPIRE', ixkey, ix_ttl) end
  elseif mode == 'r' then
    local current = redis.call('ZSCORE', ixkey, member)
    if current and tonumber(current) <= tonumber(score) then
      redis.call('ZREM', ixkey, member)
    end
  end
  if st_ttl > 0 then redis.call('PEXPIRE', stkey, st_ttl) end
  return after
end

local function scopes(score)
  if #KEYS == 8 then
    local i = scope(KEYS[5], KEYS[6], 4, score)
    scope(KEYS[7], KEYS[8], i, score)
  end
end

local function new_session(now)
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
  redis.call('HSET', KEYS[1], 'c', now, 'u', now, 'r', 1, 'n', 0)
end
"""

CREATE = Script(
    "create",
    _PRELUDE
    + r"""
if redis.call('EXISTS', KEYS[1]) == 1 then return {3} end
local now = ARGV[1]
new_session(now)
set_pairs(KEYS[2], tonumber(ARGV[3]))
expire_session()
if #KEYS == 8 then
  scopes(now)
  return {0, redis.call('HGETALL', KEYS[5]), redis.call('HGETALL', KEYS[7])}
end
return {0}
""",
)
"""ARGV op: n, n session field/value pairs. Reply {0[, user state, app state]} or {3}."""

APPEND = Script(
    "append",
    _PRELUDE
    + r"""
local m = KEYS[1]
local rev = redis.call('HGET', m, 'r')
if not rev then return {1} end
local o = tonumber(ARGV[3])
local expected = ARGV[o]
if expected ~= '' and expected ~= rev then return {2, tonumber(rev)} end
local seq = 0
local ts = ARGV[o + 1]
if ARGV[o + 2] ~= '' then
  seq = redis.call('HINCRBY', m, 'n', 1)
  redis.call('ZADD', KEYS[3], seq, seq .. ' ' .. ts .. ' ' .. ARGV[o + 2])
  redis.call('ZADD', KEYS[4], ts, seq)
end
local newrev = redis.call('HINCRBY', m, 'r', 1)
local upd = touch(m, ARGV[1])
set_pairs(KEYS[2], o + 3)
expire_session()
scopes(upd)
return {0, seq, newrev, upd}
""",
)
"""ARGV op: expected revision or '', timestamp, payload JSON ('' = no event: update_state),
n, n session field/value pairs. Reply {0, seq, revision, updated_at}, {1} or {2, revision}."""

ADD_ITEMS = Script(
    "add_items",
    _PRELUDE
    + r"""
local m = KEYS[1]
local now = ARGV[1]
if redis.call('EXISTS', m) == 0 then new_session(now) end
local o = tonumber(ARGV[3])
local k = tonumber(ARGV[o])
local last = redis.call('HINCRBY', m, 'n', k)
local first = last - k + 1
local j = 1
while j <= k do
  local events, times = {}, {}
  local stop = math.min(k, j + 199)
  for x = j, stop do
    local seq = first + x - 1
    events[#events + 1] = seq
    events[#events + 1] = seq .. ' ' .. now .. ' ' .. ARGV[o + x]
    times[#times + 1] = now
    times[#times + 1] = seq
  end
  redis.call('ZADD', KEYS[3], unpack(events))
  redis.call('ZADD', KEYS[4], unpack(times))
  j = stop + 1
end
local rev = redis.call('HINCRBY', m, 'r', 1)
local upd = touch(m, now)
expire_session()
scopes(upd)
return {0, rev, upd}
""",
)
"""ARGV op: k, k payloads. Creates the session if missing. Reply {0, revision, updated_at}."""

POP = Script(
    "pop",
    _PRELUDE
    + r"""
local m = KEYS[1]
local top = redis.call('ZPOPMAX', KEYS[3])
if #top == 0 then return {0} end  -- empty or missing: nothing popped, nothing written
local member = top[1]
redis.call('ZREM', KEYS[4], string.match(member, '^(%d+) '))
redis.call('HINCRBY', m, 'r', 1)
local upd = touch(m, ARGV[1])
expire_session()
scopes(upd)
return {0, upd, member}
""",
)
"""Reply {0, updated_at, member}, or {0} if there was nothing to pop (a missing
session has no events key either: its four keys are written and expire together)."""

CLEAR = Script(
    "clear",
    _PRELUDE
    + r"""
local m = KEYS[1]
if redis.call('EXISTS', m) == 0 then return {1} end
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('HINCRBY', m, 'r', 1)
local upd = touch(m, ARGV[1])
expire_session()
scopes(upd)
return {0, upd}
""",
)
"""Reply {0, updated_at} or {1}."""

DELETE = Script(
    "delete",
    _PRELUDE
    + r"""
local u = redis.call('HGET', KEYS[1], 'u')
if not u then return {1} end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
scopes(u)
return {0, u}
""",
)
"""Scope segments in mode 'r'. Reply {0, updated_at the index entries had} or {1}."""

SCOPE = Script(
    "scope",
    _PRELUDE
    + r"""
scope(KEYS[1], KEYS[2], 2, nil)
if ARGV[1] == '1' then return redis.call('HGETALL', KEYS[1]) end
return 0
""",
)
"""Cluster only: KEYS [scope state, scope index]; ARGV [want state '1'/'0', segment...].
Idempotent (HSET of given values, ZADD GT, conditional ZREM), so it is safe to retry."""

GET = Script(
    "get",
    r"""
local meta = redis.call('HGETALL', KEYS[1])
if #meta == 0 then return false end
local last, since = ARGV[1], ARGV[2]
local events
if last ~= '' then
  if last == '0' then events = {} else events = redis.call('ZRANGE', KEYS[3], '-' .. last, -1) end
elseif since ~= '' then
  events = {}
  local seqs = redis.call('ZRANGE', KEYS[4], since, '+inf', 'BYSCORE')
  for _, s in ipairs(seqs) do
    local found = redis.call('ZRANGE', KEYS[3], s, s, 'BYSCORE')
    if found[1] then events[#events + 1] = found[1] end
  end
else
  events = redis.call('ZRANGE', KEYS[3], 0, -1)
end
local reply = {meta, redis.call('HGETALL', KEYS[2]), events}
if #KEYS == 6 then
  reply[4] = redis.call('HGETALL', KEYS[5])
  reply[5] = redis.call('HGETALL', KEYS[6])
end
return reply
""",
)
"""KEYS [meta, state, events, times[, user state, app state]]; ARGV [last or '', since or ''].
Reply nil if missing, else [meta, state, events[, user state, app state]] (one snapshot)."""
