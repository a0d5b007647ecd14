"""Fine-tunes the question side of the embedding model against the sentences' stored vectors (issue 22).

The index keeps every sentence's vector from the installed MiniLM; they are not touched. Only the
question is encoded a second time, by a copy of MiniLM whose top TUNED_LAYERS layers are trained so
that a question's vector lies nearest its evidence sentences among its candidates: a softmax over the
candidates' stored vectors (scaled cosines), the evidence sentences its positives. The fixed model
embeds a question near sentences that repeat its words; the tuned one learns from the labelled train
split what a question asks of its answer ("How many …" a number, "Why …" a cause, "What did X say"
X's words). Its cosine to each candidate is a feature of the ranker (qa/rankers.py,
`tuned_similarity`).

Only the tuned layers are saved, in float16 (safetensors, about 10 MB), with the SHA-256 of the base
model's weights they were trained on top of; `index.embedders.tuned_question_embedder` rebuilds the
whole model from the installed package and exports it to ONNX like the embedder itself.

Used by eval/train_reader.py (`make train-reader`); torch is imported only here and for the ONNX export.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# First choices, not tuned: the top three of MiniLM's six layers, three epochs, batches of 16 questions,
# cosines scaled by 20 before the softmax. Grouped 5-fold cross-validation over train and dev measured the
# ranker with them (docs/reader.md, stop 22); other values were not tried.
TUNED_LAYERS = 3
EPOCHS = 3
LEARNING_RATE = 3e-5
BATCH_QUESTIONS = 16
COSINE_SCALE = 20.0
SEED = 0


@dataclass(frozen=True)
class EncoderExample:
    """One answerable question: its text, its candidates' stored vectors and which are evidence."""

    question: str
    vectors: np.ndarray  # candidates x dimension, unit length, as stored in the index
    evidence: np.ndarray  # bool per candidate


def _base_model():
    from sentence_transformers import SentenceTransformer

    from index.embedders import resolve_model_path

    path, _ = resolve_model_path(None)
    return SentenceTransformer(str(path), device="cpu", local_files_only=True), path


def tuned_names(layers: int = TUNED_LAYERS, depth: int = 6) -> tuple[str, ...]:
    """The prefixes, in the base model's weights file, of the layers that are tuned."""
    return tuple(f"encoder.layer.{i}." for i in range(depth - layers, depth))


def fit(examples: Sequence[EncoderExample], seed: int = SEED) -> dict[str, np.ndarray]:
    """The tuned layers' weights (float32, named as in the base model's weights file)."""
    import torch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    model, _ = _base_model()
    bert = model[0].auto_model
    depth = len(bert.encoder.layer)
    prefixes = tuned_names(TUNED_LAYERS, depth)
    for name, parameter in bert.named_parameters():
        parameter.requires_grad = name.startswith(prefixes)
    parameters = [p for p in bert.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=LEARNING_RATE, weight_decay=0.01)
    usable = [e for e in examples if e.evidence.any() and len(e.evidence) > 1]
    model.train()
    for _ in range(EPOCHS):
        rng.shuffle(usable)
        for start in range(0, len(usable), BATCH_QUESTIONS):
            batch = usable[start : start + BATCH_QUESTIONS]
            encoded = model(model.tokenize([e.question for e in batch]))["sentence_embedding"]
            questions = torch.nn.functional.normalize(encoded, dim=1)
            loss = torch.zeros(())
            for example, question in zip(batch, questions):
                logits = COSINE_SCALE * (torch.from_numpy(example.vectors) @ question)
                positive = torch.from_numpy(example.evidence)
                loss = loss - (torch.logsumexp(logits[positive], 0) - torch.logsumexp(logits, 0))
            (loss / len(batch)).backward()
            optimizer.step()
            optimizer.zero_grad()
    return {name: tensor.detach().numpy().copy() for name, tensor in bert.state_dict().items() if name.startswith(prefixes)}


def encode(layers: dict[str, np.ndarray], questions: Sequence[str]) -> np.ndarray:
    """The questions' unit vectors under the tuned layers (torch, as trained: for out-of-fold features)."""
    import torch

    model, _ = _base_model()
    bert = model[0].auto_model
    bert.load_state_dict({k: torch.from_numpy(v) for k, v in layers.items()}, strict=False)
    model.eval()
    return model.encode(list(questions), normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)


def base_sha256() -> str:
    from index.embedders import resolve_model_path

    path, _ = resolve_model_path(None)
    return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()


def save(layers: dict[str, np.ndarray], path: Path, record: dict) -> None:
    """The tuned layers in float16, with what they were trained on top of and from."""
    from safetensors.numpy import save_file

    metadata = {
        "base_sha256": base_sha256(),
        "record": json.dumps(
            record
            | {
                "tuned_layers": TUNED_LAYERS,
                "epochs": EPOCHS,
                "learning_rate": LEARNING_RATE,
                "batch_questions": BATCH_QUESTIONS,
                "cosine_scale": COSINE_SCALE,
            }
        ),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.astype(np.float16) for k, v in sorted(layers.items())}, str(path), metadata=metadata)
