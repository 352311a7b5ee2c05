"""Column types that make SQLite and PostgreSQL hand back the same Python values."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, LargeBinary, TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored and returned in UTC.

    SQLite has no time-zone type and returns naive values; PostgreSQL returns
    them in the session's time zone. Either way, what comes back is UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"refusing naive datetime {value}: say which time zone it is in")
        # SQLite keeps the wall-clock time and drops the offset, so it must be UTC's.
        return value.astimezone(UTC)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class BinaryText(TypeDecorator[str]):
    """Text kept as UTF-8 bytes.

    For what programs read and write: PostgreSQL's text types cannot hold a
    NUL character, and a program may print one.
    """

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        return None if value is None else value.encode("utf-8")

    def process_result_value(self, value: Any | None, dialect: Dialect) -> str | None:
        return None if value is None else bytes(value).decode("utf-8")
