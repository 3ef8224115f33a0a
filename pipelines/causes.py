"""Why a run failed, in a few lines: the cause of each failed step (a refused answer, a source that gave up, a
quality gate with its series, day and expectation, a missing input, a full disk, a warehouse held by another
process), without the tracebacks. The CLI prints these as its last lines."""

from __future__ import annotations

import dagster as dg

from pipelines.writer import duckdb_lock_message

# Dagster's wrappers around the user's exception: the cause below them is the message that matters.
_WRAPPERS = ("DagsterExecutionStepExecutionError", "DagsterResourceFunctionError", "DagsterUserCodeExecutionError")


def step_causes(result: dg.ExecuteInProcessResult) -> list[str]:
    """'<step>: <cause>' for every failed step, the same cause said once (a held warehouse fails every step)."""
    lines, seen = [], set()
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        cause = failure_cause(event.event_specific_data)
        if cause in seen:
            continue
        seen.add(cause)
        lines.append(f"{event.step_key}: {cause}")
    return lines


def failure_cause(data) -> str:
    """The description of a dg.Failure, else the innermost exception's message, first lines only."""
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description.strip()
    error, innermost = data.error, None
    while error is not None:
        if error.cls_name not in _WRAPPERS:
            innermost = error
        error = error.cause
    if innermost is None:
        innermost = data.error
    message = innermost.message.strip() if innermost else "unknown error"
    return duckdb_lock_message(message) or exception_line(message)


def exception_line(message: str) -> str:
    """A message without the module path of its exception class and after its first three lines."""
    head, _, rest = message.partition(": ")
    if rest and "." in head and " " not in head:
        message = f"{head.rsplit('.', 1)[-1]}: {rest}"
    lines = message.splitlines()
    return " ".join(line.strip() for line in lines[:3]) + (" ..." if len(lines) > 3 else "")
