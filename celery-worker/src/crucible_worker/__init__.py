"""Crucible's Celery worker: takes evaluations off the priority queues and runs them."""
