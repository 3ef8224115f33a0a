"""Dagster wiring of the product: definitions, resources, jobs, schedules, settings."""

import warnings

import dagster as dg

# Single-run backfills (BackfillPolicy) are flagged beta by Dagster; they are a deliberate choice here,
# so the warning would only be noise in every run and test.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
