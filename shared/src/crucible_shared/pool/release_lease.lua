-- Releases a lease and wakes one worker waiting for a slot. Idempotent: a
-- second release, or one after the lease expired, changes nothing but a
-- counter, and returns 0.
-- ARGV  prefix, token
local prefix, token = ARGV[1], ARGV[2]
local lease = prefix .. 'lease:' .. token
local executor = redis.call('HGET', lease, 'executor')
if not executor then
  redis.call('INCR', prefix .. 'metrics:lease_double_releases')
  return 0
end
local evaluation = redis.call('HGET', lease, 'evaluation')
local owner = redis.call('HGET', lease, 'owner')
local removed = redis.call('ZREM', prefix .. 'executor:' .. executor .. ':leases', token)
redis.call('DEL', lease)
if owner then
  redis.call('ZREM', prefix .. 'owner:' .. owner .. ':running', token)
end
local pointer = prefix .. 'evaluation:' .. evaluation .. ':lease'
if redis.call('GET', pointer) == token then
  redis.call('DEL', pointer)
end
-- One wake-up per slot freed; the list is kept short, since a waiter also
-- looks again on its own every little while.
redis.call('LPUSH', prefix .. 'slots:freed', executor)
redis.call('LTRIM', prefix .. 'slots:freed', 0, 63)
if removed == 0 then
  redis.call('INCR', prefix .. 'metrics:lease_double_releases')
  return 0
end
return 1
