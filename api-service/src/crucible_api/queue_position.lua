-- The 1-based position of an evaluation in a Celery queue on Redis, or nil.
-- kombu pushes on the left and workers pop from the right, so the rightmost
-- message is the next to run.
-- KEYS[1]  the queue's list
-- ARGV[1]  the evaluation id
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for i = #items, 1, -1 do
  if string.find(items[i], ARGV[1], 1, true) then
    return #items - i + 1
  end
end
return nil
