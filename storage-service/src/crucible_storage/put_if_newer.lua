-- Caches an evaluation unless a newer version of it is cached already.
-- KEYS[1]: the cache key; ARGV: version (integer), document (JSON), TTL in seconds.
local current = redis.call('HGET', KEYS[1], 'version')
if current and tonumber(current) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'doc', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
