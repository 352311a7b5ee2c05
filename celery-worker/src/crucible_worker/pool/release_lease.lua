-- Releases a lease. Idempotent: a second release, or one after the lease
-- expired, changes nothing but a counter, and returns 0.
-- KEYS[1]  the lease hash
-- KEYS[2]  the double-release counter
-- ARGV     token, key prefix
local token, prefix = ARGV[1], ARGV[2]
local executor = redis.call('HGET', KEYS[1], 'executor')
if not executor then
  redis.call('INCR', KEYS[2])
  return 0
end
local evaluation = redis.call('HGET', KEYS[1], 'evaluation')
local removed = redis.call('ZREM', prefix .. 'executor:' .. executor .. ':leases', token)
redis.call('DEL', KEYS[1])
local pointer = prefix .. 'evaluation:' .. evaluation .. ':lease'
if redis.call('GET', pointer) == token then
  redis.call('DEL', pointer)
end
if removed == 0 then
  redis.call('INCR', KEYS[2])
  return 0
end
return 1
