-- Takes the next evaluation to run and a slot to run it on, in one step.
--
-- Priority orders across lines (high, then normal, then low); within a
-- priority, the keys with work waiting take turns (round robin over a ring
-- of keys), each up to its own `max_running`. Nothing leaves the ready
-- queue unless a slot is free for it: a worker that finds none waits,
-- holding no evaluation, and spends none of its attempts.
-- ARGV    prefix, ttl_ms, token
-- Returns {'run', id, owner, priority, executor_id, url}
--         {'busy'}            work waits, but no slot (or no key under its cap) is free
--         {'empty', due_ms}   nothing waits; due_ms: when a delayed retry is due ('' if none)
local prefix, ttl, token = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local members = prefix .. 'ready:members'
local delayed = prefix .. 'ready:delayed'
local cancelled = prefix .. 'cancelled'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function split(info)
  local priority, owner = string.match(info, '^([^\t]*)\t([^\t]*)\t')
  return priority, owner
end

-- Retries whose backoff has passed go to the front of their key's line.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', delayed, id)
  local info = redis.call('HGET', members, id)
  if info then
    local priority, owner = split(info)
    local line = prefix .. 'ready:' .. priority .. ':owner:' .. owner
    local seq = redis.call('HINCRBY', prefix .. 'ready:popped', priority .. ':' .. owner, -1) + 1
    redis.call('HSET', members, id, priority .. '\t' .. owner .. '\t' .. seq)
    redis.call('LPUSH', line, id)
    if redis.call('LLEN', line) == 1 then
      redis.call('RPUSH', prefix .. 'ready:' .. priority .. ':owners', owner)
    end
  end
end

-- The live executor with the most free slots (ties to the first id).
local ids = redis.call('SMEMBERS', prefix .. 'executors')
table.sort(ids)
local best, best_free = nil, 0
for _, id in ipairs(ids) do
  local base = prefix .. 'executor:' .. id
  if redis.call('EXISTS', base .. ':alive') == 1 then
    redis.call('ZREMRANGEBYSCORE', base .. ':leases', '-inf', now)
    local free = tonumber(redis.call('HGET', base, 'capacity') or '0')
      - redis.call('ZCARD', base .. ':leases')
    if free > best_free then
      best, best_free = id, free
    end
  end
end

local waiting = redis.call('HLEN', members) - redis.call('ZCARD', delayed)
if waiting <= 0 then
  local first = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
  return {'empty', first[2] or ''}
end
if best == nil then
  return {'busy'}
end

for _, priority in ipairs({'high', 'normal', 'low'}) do
  local ring = prefix .. 'ready:' .. priority .. ':owners'
  for _ = 1, redis.call('LLEN', ring) do
    local owner = redis.call('LMOVE', ring, ring, 'LEFT', 'RIGHT')
    local running = prefix .. 'owner:' .. owner .. ':running'
    redis.call('ZREMRANGEBYSCORE', running, '-inf', now)
    local cap = tonumber(redis.call('HGET', prefix .. 'owners:max_running', owner) or '0')
    if cap == 0 or redis.call('ZCARD', running) < cap then
      local line = prefix .. 'ready:' .. priority .. ':owner:' .. owner
      local found = nil
      while found == nil do
        local id = redis.call('LPOP', line)
        if not id then
          break
        end
        redis.call('HDEL', members, id)
        redis.call('HINCRBY', prefix .. 'ready:depth', priority, -1)
        redis.call('HINCRBY', prefix .. 'ready:popped', priority .. ':' .. owner, 1)
        -- A cancelled one is dropped here, never sent to a sandbox.
        if not redis.call('ZSCORE', cancelled, id) then
          found = id
        end
      end
      if redis.call('LLEN', line) == 0 then
        redis.call('LREM', ring, 0, owner)
      end
      if found then
        local base = prefix .. 'executor:' .. best
        local lease = prefix .. 'lease:' .. token
        redis.call('ZADD', base .. ':leases', now + ttl, token)
        redis.call('HSET', lease, 'executor', best, 'evaluation', found, 'owner', owner)
        redis.call('PEXPIRE', lease, ttl)
        redis.call('SET', prefix .. 'evaluation:' .. found .. ':lease', token, 'PX', ttl)
        redis.call('ZADD', running, now + ttl, token)
        -- Until storage has recorded the claim: a worker lost in between
        -- leaves it here, and the reaper puts it back.
        redis.call('ZADD', prefix .. 'ready:claiming', now + ttl, found)
        return {'run', found, owner, priority, best, redis.call('HGET', base, 'url')}
      end
    end
  end
end
return {'busy'}
