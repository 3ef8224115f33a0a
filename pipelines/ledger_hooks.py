"""Failed steps in the coverage ledger: every asset's step records its failure for the days of its run, and its
success resolves them.

A failure hook and a success hook are attached to every asset (so the daily job, a UI backfill of Dagster's
asset job and any subset of either carry them). They run in the run's own process right after the step,
while that process is the warehouse's one writer (the CLI's writer lock is held by the same process), so
nothing else needs the lock:
- a step fails: one `failed` entry per day of the run's window (its partition, or its range), table and
  subject naming the asset, reason the first line of the step's error; a day that fails again counts one
  more attempt (warehouse/ledger.py, `record_failed_step`);
- a step succeeds: its `failed` entries on the run's days are resolved as `filled` (every day for an asset
  built whole, such as the whole-history marts).
A ledger that cannot be written (the disk is full, the file is held by another process) leaves the run's
outcome as it is: the hook says so in the run's log. A run killed outright runs no hook; Dagster still records
its partitions as failed and the retry sensor asks for them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg

from pipelines.jobs import RANGE_END_TAG, RANGE_START_TAG
from warehouse.ledger import record_failed_step, resolve_failed_step, subjects_with_failed_steps

PARTITION_TAG = "dagster/partition"


@dataclass(frozen=True)
class StepAsset:
    """What the ledger names for a step: the asset's table (raw.funding), its key (raw/funding), and whether
    it has daily partitions (else it is built whole)."""

    table: str
    subject: str
    partitioned: bool


def step_assets(assets: list[dg.AssetsDefinition]) -> dict[str, StepAsset]:
    """Op name -> the asset the step materialises."""
    out = {}
    for asset in assets:
        key = asset.key
        out[asset.node_def.name] = StepAsset(".".join(key.path), key.to_user_string(),
                                             asset.partitions_def is not None)
    return out


def run_days(tags: dict[str, str]) -> list[dt.date]:
    """The UTC days of a run's window, from its tags: a range (single-run backfill, the CLI, the sensors) or one
    partition (the schedule); none for a run without partitions."""
    if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        first, last = dt.date.fromisoformat(tags[RANGE_START_TAG]), dt.date.fromisoformat(tags[RANGE_END_TAG])
    elif PARTITION_TAG in tags:
        first = last = dt.date.fromisoformat(tags[PARTITION_TAG])
    else:
        return []
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def error_line(error: BaseException | None) -> str:
    """The first line of a step's error: a dg.Failure's description, else the exception's class and message."""
    if error is None:
        return "the step failed (no error recorded)"
    if isinstance(error, dg.Failure) and error.description:
        text = error.description
    else:
        text = f"{type(error).__name__}: {error}"
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else type(error).__name__


def build_ledger_hooks(assets: list[dg.AssetsDefinition]) -> set[dg.HookDefinition]:
    steps = step_assets(assets)
    # Per run (hooks of one run share its process): its days, and the assets with open `failed` entries when its
    # first step succeeded. A step that fails later in the run never succeeds in it, so the set stays right; a
    # daily run with nothing failed then reads the ledger once, not once per step.
    days_of_run: dict[str, list[dt.date]] = {}
    failed_subjects: dict[str, set[str]] = {}

    def _context(context: dg.HookContext) -> tuple[StepAsset, list[dt.date]] | None:
        step = steps.get(context.op.name)
        if step is None:
            return None
        if context.run_id not in days_of_run:
            run = context.instance.get_run_by_id(context.run_id)
            days_of_run.clear()
            days_of_run[context.run_id] = run_days(dict(run.tags) if run else {})
        return step, days_of_run[context.run_id]

    @dg.failure_hook(name="ledger_failed_step", required_resource_keys={"warehouse"})
    def ledger_failed_step(context: dg.HookContext) -> None:
        found = _context(context)
        if found is None or not found[1]:
            return
        step, days = found
        reason = error_line(context.op_exception)
        try:
            record_failed_step(context.resources.warehouse.warehouse, step.table, step.subject, days, reason)
        except Exception as exc:  # the run already failed; the ledger entry is what is lost
            context.log.warning(f"could not record the failure of {step.subject} for {days[0]} to {days[-1]} in "
                                f"raw.coverage_ledger: {type(exc).__name__}: {exc}")
            return
        context.log.info(f"raw.coverage_ledger: {step.subject} failed for {days[0]} to {days[-1]}: {reason}")

    @dg.success_hook(name="ledger_resolved_step", required_resource_keys={"warehouse"})
    def ledger_resolved_step(context: dg.HookContext) -> None:
        found = _context(context)
        if found is None:
            return
        step, days = found
        if step.partitioned and not days:
            return
        if context.run_id not in failed_subjects:
            failed_subjects.clear()
            failed_subjects[context.run_id] = subjects_with_failed_steps(context.resources.warehouse.warehouse)
        if step.subject not in failed_subjects[context.run_id]:
            return
        try:
            resolved = resolve_failed_step(context.resources.warehouse.warehouse, step.table, step.subject,
                                           days if step.partitioned else None)
        except Exception as exc:
            context.log.warning(f"could not resolve the failed days of {step.subject} in raw.coverage_ledger: "
                                f"{type(exc).__name__}: {exc}")
            return
        if resolved.height:
            context.log.info(f"raw.coverage_ledger: {step.subject} filled for "
                             f"{', '.join(str(d) for d in resolved['date'].to_list())}")

    return {ledger_failed_step, ledger_resolved_step}


def with_ledger_hooks(assets: list[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """`assets` with the ledger's failure and success hooks on each."""
    hooks = build_ledger_hooks(assets)
    return [asset.with_hooks(hooks) for asset in assets]
