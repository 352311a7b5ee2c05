-- Ends a recount (backlog_recount_begin.lua): the counter becomes the
-- database's count, plus the admissions it could not see.
-- KEYS: the key's backlog counter, recounting set, ledger.
-- ARGV: token, the database's count, storing at the beginning, admitted then.
local admitted_since = tonumber(redis.call('HGET', KEYS[3], 'admitted') or '0') - tonumber(ARGV[4])
local backlog = tonumber(ARGV[2]) + tonumber(ARGV[3]) + admitted_since
redis.call('SET', KEYS[1], backlog)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'epoch', 1)
return backlog
