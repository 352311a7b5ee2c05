-- Admits `n` more evaluations to a key's backlog if they fit under its bound,
-- and notes them as being stored until `backlog_settle.lua` says they are.
-- KEYS: the key's backlog counter, its admitting set, its ledger.
-- ARGV: n, bound, a token for this admission, seconds it may take to store.
-- Returns the backlog after admission, -1 when the counter is unknown (the
-- caller recounts it), or -2 - backlog when they do not fit (nothing changes).
local current = redis.call('GET', KEYS[1])
if not current then
  return -1
end
current = tonumber(current)
local n = tonumber(ARGV[1])
if current + n > tonumber(ARGV[2]) then
  return -2 - current
end
local now = tonumber(redis.call('TIME')[1])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[3] .. ':' .. ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('HINCRBY', KEYS[3], 'admitted', n)
return redis.call('INCRBY', KEYS[1], n)
