"""What every asset shows in the Dagster UI: its table's columns with units; per partition the rows written
that day; per run (on the latest day's event) a preview of the latest day and, where there is one, a chart."""

from __future__ import annotations

import datetime as dt

from pathlib import Path

import dagster as dg
import polars as pl
# Where the instance keeps captured logs, which its webserver serves: see _chart_markdown.
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager

from assets import charts
from assets.reads import Reads
from quality.checks import quality_check_specs
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


# Charts kept per asset in the Dagster home (the latest runs'); older materialisations say so instead of an image.
CHART_RUNS_KEPT = 3
PREVIEW_ROWS = 5
PREVIEW_TEXT_CHARS = 60
_PREVIEW_TYPES = {pl.Int64: "int", pl.Int32: "int", pl.Float64: "float", pl.Boolean: "bool"}


def materialization(context: dg.AssetExecutionContext, spec: TableSpec, frame: pl.DataFrame, start: dt.date,
                    end: dt.date, check_results=(), **latest) -> dg.MaterializeResult:
    """The materialisation of a window [start, end) just written to `spec`, recorded so that run history stays
    small: each partition's event carries only its own row count and day; the latest day's event also carries
    the run's window, the preview of that day's rows and `latest` (the chart, the source). Nothing is repeated
    on every partition of a long backfill."""
    column = pl.col(spec.partition_column).cast(pl.Date)
    counts = dict(frame.group_by(column.alias("day")).len().iter_rows()) if frame.height else {}
    keys = context.partition_keys
    for key in keys:
        day = dt.date.fromisoformat(key)
        metadata = {"dagster/row_count": counts.get(day, 0), "date": key}
        if key == keys[-1]:
            shown = frame.filter(column == day) if counts.get(day) else frame.filter(column == column.max())
            metadata |= {"window": f"{start} to {end - dt.timedelta(days=1)}", "preview": table_preview(shown), **latest}
        context.add_asset_metadata(metadata, partition_key=key)
    return dg.MaterializeResult(check_results=list(check_results))


def whole_table_metadata(spec: TableSpec, frame: pl.DataFrame) -> dict:
    """Metadata of a whole (unpartitioned) table: its latest rows as a native table."""
    column = spec.partition_column
    latest = frame.sort(column, nulls_last=False).tail(PREVIEW_ROWS) if frame.height else frame
    return {"preview": table_preview(latest)}


def table_preview(frame: pl.DataFrame) -> dg.TableMetadataValue:
    """Up to PREVIEW_ROWS rows as Dagster table metadata (shown inline on the asset page); long texts cut."""
    head = frame.head(PREVIEW_ROWS)
    columns = [dg.TableColumn(name, _PREVIEW_TYPES.get(dtype, "string")) for name, dtype in head.schema.items()]
    records = [dg.TableRecord({name: _preview_value(value) for name, value in row.items()})
               for row in head.iter_rows(named=True)]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=columns))


def _preview_value(value):
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return round(value, 6)
    text = str(value)
    return text if len(text) <= PREVIEW_TEXT_CHARS else text[:PREVIEW_TEXT_CHARS - 1] + "…"


def window(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """The run's partition window as UTC days [start, end)."""
    time_window = context.partition_time_window
    return time_window.start.date(), time_window.end.date()


def chart_metadata(context, build, frame: pl.DataFrame, *args, title: str) -> dict:
    """{"chart": the chart as a Markdown image} for a materialisation; nothing for an empty frame. A chart
    that cannot be drawn is logged and noted, never a reason to lose the run's data."""
    if frame.height == 0:
        return {}
    try:
        figure = build(frame, *args)
        image, chart_data = charts.svg(figure), charts.data_json(figure)
    except Exception as exc:  # noqa: BLE001 - a presentation failure must not fail the table
        context.log.warning(f"chart '{title}' could not be drawn: {type(exc).__name__}: {exc}")
        return {"chart": f"could not be drawn: {type(exc).__name__}"}
    return {"chart": dg.MetadataValue.md(_chart_markdown(context, image, chart_data, title))}


def _chart_markdown(context, image: str, data_json: str, title: str) -> str:
    """A short Markdown image that the asset page shows inline. Dagster's UI expands a Markdown value in place
    only below 1,000 characters (a larger one hides behind [Show Markdown]), and an inline image would be copied
    into the run history: the image is written once per run beside the instance's captured logs instead, which
    the webserver serves under /logs/<namespace>/<name>/<extension>, with the chart's data as .json. An instance without local captured logs (an ephemeral one, in tests) gets the inline image."""
    manager = context.instance.compute_log_manager
    if not isinstance(manager, LocalComputeLogManager):
        return charts.markdown_svg(image, title)
    log_key = ["charts", context.asset_key.to_python_identifier(), context.run.run_id]
    path = Path(manager.get_captured_local_path(log_key, "svg"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(image)
    path.with_suffix(".json").write_text(data_json)
    kept = sorted(path.parent.glob("*.svg"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[CHART_RUNS_KEPT:]:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)
    return f"![{title}](/logs/{'/'.join(log_key)}/svg)"
