"""The Celery application, wired in one place."""
