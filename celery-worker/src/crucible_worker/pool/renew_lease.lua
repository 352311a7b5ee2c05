-- Extends a lease that is still held. Returns 0 when it was lost (expired,
-- or released), so that the holder knows its slot may have been reused.
-- KEYS[1]  the lease hash
-- ARGV     now_ms, ttl_ms, token, key prefix
local now, ttl, token, prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local executor = redis.call('HGET', KEYS[1], 'executor')
if not executor then
  return 0
end
local leases = prefix .. 'executor:' .. executor .. ':leases'
if not redis.call('ZSCORE', leases, token) then
  return 0
end
redis.call('ZADD', leases, 'XX', now + ttl, token)
redis.call('PEXPIRE', KEYS[1], ttl)
local evaluation = redis.call('HGET', KEYS[1], 'evaluation')
redis.call('SET', prefix .. 'evaluation:' .. evaluation .. ':lease', token, 'PX', ttl)
return 1
