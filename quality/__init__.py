"""Data quality: one great-expectations suite per table (suites.py), a generic gate that validates a
window with it (gate.py) and the Dagster asset checks that report it (checks.py)."""

import os

# Set before great_expectations is first imported by the modules of this package: no usage reporting.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
