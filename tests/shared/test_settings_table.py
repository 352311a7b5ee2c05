from pathlib import Path

from crucible_shared.settings_table import END_MARKER, START_MARKER, with_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_table_matches_the_settings() -> None:
    document = README.read_text()

    assert START_MARKER in document and END_MARKER in document
    assert with_table(document) == document, (
        "README's configuration table is stale: "
        "uv run python -m crucible_shared.settings_table README.md"
    )
