-- Extends the leases still held, one answer per token: 1 renewed, 0 lost
-- (expired or released), so that whoever runs it stops: its slot may
-- already serve another.
-- ARGV  prefix, ttl_ms, token...
local prefix, ttl = ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local answers = {}
for i = 3, #ARGV do
  local token = ARGV[i]
  local lease = prefix .. 'lease:' .. token
  local executor = redis.call('HGET', lease, 'executor')
  local held = 0
  if executor then
    local leases = prefix .. 'executor:' .. executor .. ':leases'
    if redis.call('ZSCORE', leases, token) then
      redis.call('ZADD', leases, 'XX', now + ttl, token)
      redis.call('PEXPIRE', lease, ttl)
      local evaluation = redis.call('HGET', lease, 'evaluation')
      redis.call('SET', prefix .. 'evaluation:' .. evaluation .. ':lease', token, 'PX', ttl)
      local owner = redis.call('HGET', lease, 'owner')
      if owner then
        redis.call('ZADD', prefix .. 'owner:' .. owner .. ':running', 'XX', now + ttl, token)
      end
      held = 1
    end
  end
  answers[#answers + 1] = held
end
return answers
