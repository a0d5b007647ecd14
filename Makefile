# The two commands of the README:  `make run` (the chat on the sample articles) and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# Models come from installed packages; nothing may be fetched from a hub at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: run test install clean

run: $(VENV)/.installed
	$(BIN)/qa ingest --if-empty corpus
	$(BIN)/qa serve

test: $(VENV)/.installed
	$(BIN)/python -m pytest

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

clean:
	rm -rf $(VENV)
