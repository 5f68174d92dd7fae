-- Cluster: the app: or user: part of a committed session write, on the scope's slot.
-- KEYS: state, index, clocks [, users (app scope)]
-- ARGV: the session write's clock, want-state ('1': reply the scope state), one segment
--   (see segment_at). Idempotent: retrying it with the same clock changes nothing more.
apply_scope({state = KEYS[1], index = KEYS[2], clocks = KEYS[3], users = KEYS[4]}, segment_at(3),
            ARGV[1])
if ARGV[2] == '1' then return redis.call('HGETALL', KEYS[1]) end
return 0
