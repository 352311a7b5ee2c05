"""Crucible's storage service: the only writer of evaluations and their history.

Routes (`routes/`) speak HTTP and call a `StorageBackend` (`backends/`); the
database backend keeps its rows with SQLAlchemy (`db/`) in a schema that the
Alembic migrations (`migrations/`) build on SQLite and PostgreSQL alike.
"""
