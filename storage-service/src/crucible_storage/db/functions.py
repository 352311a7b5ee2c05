"""SQL functions spelled differently by SQLite and PostgreSQL."""

from typing import Any

from sqlalchemy import Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction


class byte_position(GenericFunction[int]):  # noqa: N801 (SQL function names are lower case)
    """1 + where the bytes `needle` start in `haystack`, or 0: `byte_position(haystack, needle)`."""

    type = Integer()
    inherit_cache = True


@compiles(byte_position)
def _instr(element: byte_position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(byte_position, "postgresql")
def _position(element: byte_position, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = element.clauses.clauses
    return f"position({compiler.process(needle, **kw)} IN {compiler.process(haystack, **kw)})"
