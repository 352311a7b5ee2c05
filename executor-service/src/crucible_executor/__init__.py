"""Crucible's executor: runs one evaluation in a sandbox with hard limits."""
