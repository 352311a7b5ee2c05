-- Read before a finish is committed, given back to backlog_release.lua with it:
-- the key's recount epoch, or -1 while a recount is under way.
-- KEYS: the key's recounting set, ledger.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(redis.call('TIME')[1]))
if redis.call('ZCARD', KEYS[1]) > 0 then
  return -1
end
return tonumber(redis.call('HGET', KEYS[2], 'epoch') or '0')
