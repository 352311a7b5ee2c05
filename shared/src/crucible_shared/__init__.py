"""Contracts shared by every Crucible service.

Everything that crosses a service boundary is defined here, once: the
evaluation lifecycle, the limits, the wire schemas, queue and Redis names,
and the settings each service reads from its environment.
"""
