-- Begins a recount of a key's backlog from the database, which cannot see
-- admissions not yet committed: returns what they add up to now, and how
-- many the key has admitted ever, so that the end of the recount adds those
-- and the ones admitted while the database counted. Finishes recorded while
-- any recount is under way are not taken off (backlog_release.lua).
-- KEYS: the key's recounting set, admitting set, ledger. ARGV: token, ttl seconds.
local now = tonumber(redis.call('TIME')[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('HINCRBY', KEYS[3], 'epoch', 1)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local storing = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  storing = storing + tonumber(string.match(member, ':(%d+)$'))
end
return {storing, tonumber(redis.call('HGET', KEYS[3], 'admitted') or '0')}
