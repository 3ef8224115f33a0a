"""The SQL command on the published warehouse: `make sql` and `warehouse-sql`.

Loads the settings once to find the published copy of the configured warehouse, then hands its path to
the warehouse's sandboxed query. Imports no Dagster and no charting, so a query starts in well under a second.

    python -m pipelines.query sql [--format table|csv|json] "SELECT ..."
"""

from __future__ import annotations

import sys

from pipelines.settings import SettingsError, load_settings
from warehouse import sql
from warehouse.serving import published_database


def sql_main(argv: list[str] | None = None) -> int:
    """`warehouse-sql`: query the published copy of the configured warehouse."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return sql.main(argv, database=published_database(settings.warehouse_path))


COMMANDS = {"sql": sql_main}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m pipelines.query {{{'|'.join(COMMANDS)}}} [options]", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
