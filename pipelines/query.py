"""The commands that read the published warehouse: `make sql`, `warehouse-sql` and `make report`.

Loads the settings once to find the published copy of the configured warehouse, then hands its path to
the warehouse functions. Imports no Dagster, so a query starts in well under a second.

    python -m pipelines.query sql [--format table|csv|json] "SELECT ..."
    python -m pipelines.query report [--out PATH] [--days N]
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipelines.settings import SettingsError, load_settings
from warehouse import report, sql
from warehouse.serving import published_database


def sql_main(argv: list[str] | None = None) -> int:
    """`warehouse-sql`: query the published copy of the configured warehouse."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return sql.main(argv, database=published_database(settings.warehouse_path))


def report_main(argv: list[str] | None = None) -> int:
    """`make report`: the HTML report of the published copy, written beside the warehouse."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return report.main(argv, database=published_database(settings.warehouse_path),
                       out=Path(settings.warehouse_path).parent / "report.html")


COMMANDS = {"sql": sql_main, "report": report_main}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m pipelines.query {{{'|'.join(COMMANDS)}}} [options]", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
