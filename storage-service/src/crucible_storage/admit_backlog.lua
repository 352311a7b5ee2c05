-- Admits `n` more evaluations to a key's backlog if they fit under its bound.
-- KEYS[1]: the key's backlog counter; ARGV: n, bound.
-- Returns the backlog after admission, -1 when the counter is unknown (the
-- caller counts in the database and sets it), or -2 - backlog when they do
-- not fit (nothing is changed).
local current = redis.call('GET', KEYS[1])
if not current then
  return -1
end
current = tonumber(current)
if current + tonumber(ARGV[1]) > tonumber(ARGV[2]) then
  return -2 - current
end
return redis.call('INCRBY', KEYS[1], ARGV[1])
