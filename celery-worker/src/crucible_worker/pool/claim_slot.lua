-- Claims a slot on the live executor with the most free slots.
-- KEYS[1]  the set of executor ids
-- ARGV     now_ms, ttl_ms, token, evaluation_id, key prefix
-- Returns  {executor_id, url} or nil when every live executor is full.
local now, ttl, token, evaluation, prefix =
  tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]

local ids = redis.call('SMEMBERS', KEYS[1])
table.sort(ids)  -- ties go to the first id, whatever order the set returns
local best, best_free = nil, 0
for _, id in ipairs(ids) do
  local base = prefix .. 'executor:' .. id
  if redis.call('EXISTS', base .. ':alive') == 1 then
    -- Leases whose holder stopped renewing give their slot back here.
    redis.call('ZREMRANGEBYSCORE', base .. ':leases', '-inf', now)
    local capacity = tonumber(redis.call('HGET', base, 'capacity') or '0')
    local free = capacity - redis.call('ZCARD', base .. ':leases')
    if free > best_free then
      best, best_free = id, free
    end
  end
end
if best == nil then
  return nil
end

local base = prefix .. 'executor:' .. best
redis.call('ZADD', base .. ':leases', now + ttl, token)
redis.call('HSET', prefix .. 'lease:' .. token, 'executor', best, 'evaluation', evaluation)
redis.call('PEXPIRE', prefix .. 'lease:' .. token, ttl)
redis.call('SET', prefix .. 'evaluation:' .. evaluation .. ':lease', token, 'PX', ttl)
return {best, redis.call('HGET', base, 'url')}
