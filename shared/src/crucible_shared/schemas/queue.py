"""The fleet at a glance: queues, workers, executors and their slots."""

from pydantic import BaseModel, Field

from crucible_shared.lifecycle import Priority


class ExecutorStatus(BaseModel):
    id: str
    url: str
    backend: str
    cgroup: str = Field(
        description="How the host enforces its runs' limits: `v1`, `v2`, `none` (rlimits only), "
        "or `engine` (the container engine's own)."
    )
    capacity: int
    slots_in_use: int
    alive: bool


class QueueOverview(BaseModel):
    depths: dict[Priority, int] = Field(description="Evaluations waiting, per priority.")
    workers_online: int
    executors: list[ExecutorStatus]
    slots_total: int = Field(description="Capacity of the live executors.")
    leases_held: int = Field(description="Slots claimed by workers right now.")
    lease_double_releases: int = Field(
        description="Releases that found nothing: a second release, or an expired lease."
    )
