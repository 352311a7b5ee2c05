-- An admission's evaluations are stored (ARGV[3] = '1') or never will be.
-- KEYS: the key's backlog counter, its admitting set. ARGV: token, n, stored.
redis.call('ZREM', KEYS[2], ARGV[1] .. ':' .. ARGV[2])
if ARGV[3] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DECRBY', KEYS[1], ARGV[2])
end
