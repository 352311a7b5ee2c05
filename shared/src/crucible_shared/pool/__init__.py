"""The ready queue and the executor pool, in the pool Redis: every step one Lua script.

The API puts evaluations in the ready queue (`ReadyQueue.enqueue`); a worker
takes the next one together with a slot to run it on (`ExecutorPool.dispatch`);
the executor that runs it renews its lease while it runs and releases it when
the sandbox is gone. Storage, not Redis, decides what an evaluation's status
is: whatever Redis loses, the reaper rebuilds from storage.
"""
