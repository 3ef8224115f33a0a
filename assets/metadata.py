"""What every asset shows in the Dagster UI: its table's columns with units, and per run the rows
written, the dates covered and a small preview."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl

from assets import charts
from assets.reads import Reads
from quality.checks import quality_check_specs
from warehouse.formatting import markdown_table
from warehouse.schemas import TableSpec

_TYPE_NAMES = {"DATE": "date", "TIMESTAMP": "timestamp (UTC)", "VARCHAR": "string", "DOUBLE": "float",
               "BIGINT": "int", "INTEGER": "int", "BOOLEAN": "bool"}


def table_definition_metadata(spec: TableSpec) -> dict:
    """Static metadata of the asset: schema with units, the warehouse table, its key."""
    columns = [
        dg.TableColumn(
            name=c.name,
            type=_TYPE_NAMES[c.sql_type],
            description=c.description,
            constraints=dg.TableColumnConstraints(nullable=c.nullable),
        )
        for c in spec.columns
    ]
    return {
        "dagster/column_schema": dg.TableSchema(columns=columns),
        "dagster/table_name": spec.qualified,
        "primary_key": ", ".join(spec.key),
    }


def table_asset(layer: str, spec: TableSpec, description: str, settings, partitions_def: dg.PartitionsDefinition,
                reads: Reads | None = None, kinds: set[str] | None = None) -> dict:
    """The @asset arguments every table asset shares: key layer/table, group, description, column schema,
    quality checks described with the settings in force, kinds, the dependencies its reads declare, and (for a
    partitioned table) one partition per UTC day with single-run backfills."""
    partitioning = (dict(partitions_def=partitions_def, backfill_policy=dg.BackfillPolicy.single_run())
                    if spec.partitioned else {})
    return dict(
        name=spec.name, key_prefix=[layer], group_name=layer, description=description,
        metadata=table_definition_metadata(spec), check_specs=quality_check_specs(spec, settings),
        kinds=(kinds or {"polars", "duckdb"}) | {"great_expectations"},
        deps=reads.deps(spec.partitioned) if reads else [], **partitioning,
    )


def materialization(spec: TableSpec, frame: pl.DataFrame, start: dt.date, end: dt.date, **extra) -> dg.MaterializeResult:
    """MaterializeResult for a window [start, end) just written to `spec`."""
    column = spec.partition_column
    covered = (
        f"{frame[column].min()} to {frame[column].max()}" if frame.height else "no rows (no trading in the window)"
    )
    metadata = {
        "dagster/row_count": frame.height,
        "window": f"{start} to {end - dt.timedelta(days=1)}",
        "dates_covered": covered,
        "preview": dg.MetadataValue.md(markdown_table(frame)),
        **extra,
    }
    return dg.MaterializeResult(metadata=metadata)


def window(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """The run's partition window as UTC days [start, end)."""
    time_window = context.partition_time_window
    return time_window.start.date(), time_window.end.date()


def chart_metadata(context, build, frame: pl.DataFrame, *args, title: str) -> dict:
    """{"chart": the chart as an inline image} for a materialisation; nothing for an empty frame. A chart
    that cannot be drawn is logged and noted, never a reason to lose the run's data."""
    if frame.height == 0:
        return {}
    try:
        return {"chart": dg.MetadataValue.md(charts.markdown_image(build(frame, *args), title))}
    except Exception as exc:  # noqa: BLE001 - a presentation failure must not fail the table
        context.log.warning(f"chart '{title}' could not be drawn: {type(exc).__name__}: {exc}")
        return {"chart": f"could not be drawn: {type(exc).__name__}"}
