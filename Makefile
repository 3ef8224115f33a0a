# Two commands set everything up: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster
export GX_ANALYTICS_ENABLED := false

.PHONY: install demo test browser ui summary evaluate sql dictionary report clean

$(BIN)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required (found %s); set PYTHON=python3.11" % sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

install: $(BIN)/.installed

# The project's Dagster instance (pipelines/home.py): telemetry off, one event-log file, runs queued one at a time.
$(DAGSTER_HOME)/dagster.yaml: pipelines/home.py | install
	@$(BIN)/python -c 'from pipelines.home import prepare_dagster_home, dagster_home; prepare_dagster_home(dagster_home())'

## Materialise every asset for the 365 days ending yesterday on the sample market (after a warm-up of about
## 280 days, so the displayed year has its baselines), then print what it found.
demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m pipelines.cli demo

## Run the tests (the UI test drives Debian's chromium; installed here when missing and run as root), one file per
## worker on TEST_WORKERS processes: most long tests wait on a subprocess, so two share two cores well.
TEST_WORKERS ?= 2
test: install browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the UI test"; \
	    apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; \
	  else echo "chromium is missing: the UI test will skip (sudo apt-get install chromium)"; fi; }

## Open the Dagster UI on http://127.0.0.1:3000 (with the schedule and sensors running).
ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

## Run the pipeline on 3 years of the sample market and score the anomaly engine against its ground truth.
evaluate: install
	$(BIN)/python -m pipelines.cli evaluate

## Query the published warehouse read-only: make sql Q='SELECT * FROM bi.anomaly_status' [FORMAT=csv|json]
# Q reaches the command through the environment, never through the shell's parsing, so any quotes in it
# (a column named "end") arrive as typed.
sql: export Q := $(value Q)
sql: export FORMAT := $(or $(FORMAT),table)
sql: install
	@$(BIN)/python -m pipelines.query sql --format "$$FORMAT" -- "$$Q"

## Write data/report.html: every chart and the live Table 1, from the published warehouse, in one file.
report: install
	$(BIN)/python -m pipelines.report

## Regenerate docs/data_dictionary.md from the view comments.
dictionary: install
	$(BIN)/python -m warehouse.dictionary

summary: install
	$(BIN)/python -m pipelines.cli summary

clean:
	rm -rf $(VENV) data .dagster *.egg-info
