-- Puts evaluations of one key and priority in the ready queue: at the back
-- of the key's line, or at its front (a retry, which has waited once
-- already), or aside until a delay has passed (a retry's backoff).
-- Idempotent: an id already waiting is left where it is.
-- ARGV  prefix, priority, owner, max_running ('' keeps the known one),
--       where ('back', 'front' or 'later'), delay_ms, id...
-- Returns the number of ids added.
local prefix, priority, owner, max_running, where, delay =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local members = prefix .. 'ready:members'
local line = prefix .. 'ready:' .. priority .. ':owner:' .. owner
local ring = prefix .. 'ready:' .. priority .. ':owners'
local slot = priority .. ':' .. owner
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

if max_running ~= '' then
  redis.call('HSET', prefix .. 'owners:max_running', owner, max_running)
end

local added = 0
for i = 7, #ARGV do
  local id = ARGV[i]
  if redis.call('HEXISTS', members, id) == 0 then
    local seq = 0  -- a delayed one gets its place when its backoff ends
    if where == 'back' then
      seq = redis.call('HINCRBY', prefix .. 'ready:pushed', slot, 1)
    elseif where == 'front' then
      -- One place ahead of every other in the line: their places grow by one.
      seq = redis.call('HINCRBY', prefix .. 'ready:popped', slot, -1) + 1
    end
    if where == 'later' then
      redis.call('ZADD', prefix .. 'ready:delayed', now + delay, id)
    else
      if where == 'back' then
        redis.call('RPUSH', line, id)
      else
        redis.call('LPUSH', line, id)
      end
      if redis.call('LLEN', line) == 1 then
        redis.call('RPUSH', ring, owner)
      end
    end
    redis.call('HSET', members, id, priority .. '\t' .. owner .. '\t' .. seq)
    redis.call('HINCRBY', prefix .. 'ready:depth', priority, 1)
    added = added + 1
  end
end
return added
