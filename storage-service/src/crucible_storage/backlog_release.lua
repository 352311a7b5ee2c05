-- `n` of a key's evaluations finished: counted in this window's pace, and
-- taken off the key's backlog unless a recount began since the epoch read
-- before their commit (backlog_epoch.lua). That recount's database count may
-- already leave them out, and a backlog counted high only refuses early,
-- until the next recount; one counted low would admit past the bound.
-- KEYS: the key's backlog counter, the window's finished count, ledger.
-- ARGV: n, the window's ttl seconds, the epoch read before the commit.
redis.call('INCRBY', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
if ARGV[3] == '-1' or tonumber(redis.call('HGET', KEYS[3], 'epoch') or '0') ~= tonumber(ARGV[3]) then
  return 0
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DECRBY', KEYS[1], ARGV[1])
end
return 1
