# twincast: the two commands are `make demo` and `make test`; the rest are their parts.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install kafka-jars kafka-up kafka-down kafka-status topics demo test lint typecheck unit clean bench-trainer bench-trainer-scale bench-trainer-kafka bench-worker bench-recovery bench-weights bench-latency bench-scale bench-checkpoint bench-swap bench-min-points prometheus evaluate test-containers

# The virtualenv is rebuilt whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar off -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

kafka-jars: $(STAMP)
	$(BIN)/twincast kafka fetch

kafka-up: $(STAMP)
	$(BIN)/twincast kafka up

# Safe on a machine that never installed anything: nothing can be running there.
kafka-down:
	@if [ -x $(BIN)/twincast ]; then $(BIN)/twincast kafka down; else echo "Kafka was not running"; fi

kafka-status: $(STAMP)
	$(BIN)/twincast kafka status

topics: $(STAMP)
	$(BIN)/twincast topics

demo: $(STAMP)
	$(BIN)/twincast demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit

# Prometheus (and promtool) from Debian's packages, for the dashboard and alert-rule tests.
prometheus:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@prometheus --version 2>&1 | head -1

# The pipeline again with the services on confluent-kafka (librdkafka), exactly-once included.
CONFLUENT_PIPELINE = tests/integration/test_worker.py tests/integration/test_hot_swap.py \
	tests/integration/test_hot_swap_under_load.py tests/integration/test_recovery_spread.py \
	tests/integration/test_recovery.py tests/integration/test_trainer.py \
	tests/integration/test_operations.py tests/integration/test_user_tools.py \
	tests/integration/test_broker_restart.py tests/integration/test_prometheus.py \
	tests/integration/test_security.py tests/integration/test_trainer_crash.py \
	tests/integration/test_topics.py tests/integration/test_event_roundtrip.py \
	tests/integration/test_demo.py tests/integration/test_evaluate.py \
	tests/integration/test_hostile_input.py tests/integration/test_hostile_state.py \
	tests/integration/test_hostile_weights.py tests/integration/test_unreadable.py \
	tests/integration/test_health.py

test: $(STAMP) kafka-jars prometheus lint typecheck
	$(BIN)/pytest
	$(BIN)/pytest --kafka-client confluent-kafka $(CONFLUENT_PIPELINE)

# The image and the compose stack on a real Docker engine (installed and started if need be, and
# stopped again if this started it); the images are built locally from Debian's packages.
test-containers: $(STAMP) kafka-jars
	deploy/containers/test.sh

clean: kafka-down
	rm -rf $(VENV) .kafka .mypy_cache .ruff_cache .pytest_cache *.egg-info

# Benchmarks print their figures next to a baseline measured in the same run.
bench-trainer: $(STAMP)
	$(BIN)/python -m bench.trainer_refit

# No broker: the trainer's per-poll ingest fed from memory, and whole refits (a few minutes).
bench-trainer-scale: $(STAMP)
	$(BIN)/python -m bench.trainer_scale

# The trainer as a process through its own broker, 1M points already held, next to a raw drain
# and the worker on the same events (both clients, a few minutes).
bench-trainer-kafka: $(STAMP) kafka-jars
	$(BIN)/python -m bench.trainer_broker

bench-worker: $(STAMP) kafka-jars
	$(BIN)/python -m bench.worker_throughput

bench-recovery: $(STAMP) kafka-jars
	$(BIN)/python -m bench.recovery

bench-weights: $(STAMP) kafka-jars
	$(BIN)/python -m bench.weights_startup

bench-latency: $(STAMP) kafka-jars
	$(BIN)/python -m bench.latency

# Issue 14's figures: the worker at 1k / 10k / 100k series (throughput, memory, swap pause with
# full windows in process), then the trainer's ingest and refit, and its ingest through Kafka.
bench-scale: $(STAMP) kafka-jars
	$(BIN)/python -m bench.worker_scale
	$(BIN)/python -m bench.swap_pause
	$(BIN)/python -m bench.trainer_scale
	$(BIN)/python -m bench.trainer_broker

bench-checkpoint: $(STAMP) kafka-jars
	$(BIN)/python -m bench.checkpoint_cost

# In process, no Kafka: the pause of a replay swap prepared off the loop, against all on the loop.
bench-swap: $(STAMP)
	$(BIN)/python -m bench.swap_pause

# The README's forecast-quality table: every built-in data set, offline, default settings.
evaluate: $(STAMP)
	@for data in airline co2 sunspots synthetic short; do $(BIN)/twincast evaluate $$data || exit 1; done

# Issue 15's measurement: twincast on many short series at several TWINCAST_MIN_POINTS_PER_SERIES.
bench-min-points: $(STAMP)
	$(BIN)/python -m bench.min_points
