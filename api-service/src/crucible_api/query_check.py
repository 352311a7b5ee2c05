"""Refuses query parameters that the operation does not declare, and declared
ones given more than once.

FastAPI ignores the first and keeps the last of a repeated parameter, and
ignores one it does not know: `?stauts=queued` would list everything, and
`?active=maybe&active=true` would pass as `active=true`. Either is a mistake
the caller should hear about. What is declared is read from the OpenAPI
document, the same declaration clients read.
"""

import re
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError


async def declared_query_only(request: Request) -> None:
    declared = _declared(request.app, request.url.path, request.method.lower())
    errors = []
    for name in request.query_params:
        values = request.query_params.getlist(name)
        if name not in declared:
            errors.append(_error(name, values, "extra_forbidden", "no such query parameter"))
        elif len(values) > 1 and not declared[name]:
            errors.append(_error(name, values, "repeated", "given more than once"))
    if errors:
        raise RequestValidationError(errors)


def _declared(app: Any, path: str, method: str) -> dict[str, bool]:
    """The query parameters of the operation that serves `path`, each with
    whether it takes a list."""
    for template, operations in _operations(app):
        if template.fullmatch(path):
            return operations.get(method, {})
    return {}


@cache
def _operations(app: Any) -> list[tuple[re.Pattern[str], dict[str, dict[str, bool]]]]:
    # Literal paths first: /api/evaluations/count before /api/evaluations/{evaluation_id}.
    paths = sorted(app.openapi()["paths"].items(), key=lambda item: "{" in item[0])
    return [
        (
            re.compile(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path))),
            {
                method: {
                    parameter["name"]: parameter.get("schema", {}).get("type") == "array"
                    for parameter in operation.get("parameters", [])
                    if parameter["in"] == "query"
                }
                for method, operation in methods.items()
            },
        )
        for path, methods in paths
    ]


def _error(name: str, values: list[str], kind: str, message: str) -> dict[str, Any]:
    return {
        "type": kind,
        "loc": ("query", name),
        "msg": message,
        "input": values if len(values) > 1 else values[0],
    }
