-- An evaluation's place in its key's line at its priority: 1 when it is the
-- key's next; nil when it is not waiting. O(1), whatever the backlog.
-- ARGV  prefix, id
local prefix, id = ARGV[1], ARGV[2]
local info = redis.call('HGET', prefix .. 'ready:members', id)
if not info then
  return nil
end
local priority, owner, seq = string.match(info, '^([^\t]*)\t([^\t]*)\t(.*)$')
local popped = tonumber(redis.call('HGET', prefix .. 'ready:popped', priority .. ':' .. owner) or '0')
local place = tonumber(seq) - popped
if place < 1 then
  place = 1
end
return place
