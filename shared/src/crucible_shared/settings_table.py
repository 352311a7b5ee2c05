"""Renders the settings classes as the README's configuration table.

`python -m crucible_shared.settings_table` prints it;
`python -m crucible_shared.settings_table README.md` writes it into the file
between the markers. A test keeps the README in step with it.
"""

import re
import sys
from pathlib import Path

from pydantic_settings import BaseSettings

from crucible_shared.settings import (
    ApiSettings,
    ExecutorSettings,
    StorageSettings,
    WorkerSettings,
)

SERVICES: dict[str, type[BaseSettings]] = {
    "api-service": ApiSettings,
    "storage-service": StorageSettings,
    "celery-worker": WorkerSettings,
    "executor-service": ExecutorSettings,
}


def render() -> str:
    rows: dict[str, tuple[str, str, list[str]]] = {}
    for service, settings_class in SERVICES.items():
        prefix = settings_class.model_config.get("env_prefix", "")
        for name, info in settings_class.model_fields.items():
            variable = f"{prefix}{name}".upper()
            default = info.default
            rows.setdefault(variable, (f"`{default}`", info.description or "", []))[2].append(
                service
            )
    lines = ["| variable | default | read by | meaning |", "| --- | --- | --- | --- |"]
    for variable, (default, description, services) in sorted(rows.items()):
        lines.append(f"| `{variable}` | {default} | {', '.join(services)} | {description} |")
    return "\n".join(lines)


START_MARKER = "<!-- settings-table:start -->"
END_MARKER = "<!-- settings-table:end -->"


def with_table(document: str) -> str:
    """The document with the table between its markers replaced by a fresh render."""
    pattern = re.compile(re.escape(START_MARKER) + ".*?" + re.escape(END_MARKER), re.DOTALL)
    return pattern.sub(lambda _: f"{START_MARKER}\n{render()}\n{END_MARKER}", document)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        path = Path(sys.argv[1])
        path.write_text(with_table(path.read_text()))
    else:
        print(render())
