"""The ONNX embedder: sentence-transformers' vectors, from a checked cache, without importing torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from index.embedders import DEFAULT_MODEL_ID, DRIFT_LIMIT, OnnxEmbedder, cached_manifest

TEXTS = [
    "Peskov said the talks were useful.",
    "Zürich and Kraków: 3.5% growth in Q3 2019, the ministry said on Tuesday.",
    "",
    "Short.",
    " ".join(["The river rose again overnight and the old bridge was closed to traffic."] * 40),  # > 256 tokens
]


def test_onnx_vectors_are_sentence_transformers_vectors(embedder):
    onnx = OnnxEmbedder()
    assert (onnx.model_id, onnx.dimension) == (embedder.model_id, embedder.dimension) == (DEFAULT_MODEL_ID, 384)
    got, expected = onnx.encode(TEXTS), embedder.encode(TEXTS)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert np.abs(got - expected).max() <= DRIFT_LIMIT
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # Batching and length sorting do not change a text's vector, nor the order of the rows.
    one_by_one = np.stack([onnx.encode([t])[0] for t in TEXTS])
    assert np.abs(one_by_one - got).max() <= 1e-5
    assert onnx.embed_query(TEXTS[0]) == onnx.encode([TEXTS[0]])[0].tolist()
    assert onnx.encode([]).shape == (0, 384)
    assert onnx.manifest["max_abs_drift"] <= DRIFT_LIMIT


def test_the_cached_export_is_checked_before_use(tmp_path):
    onnx = OnnxEmbedder()
    copy = tmp_path / onnx.folder.name
    shutil.copytree(onnx.folder, copy)
    assert cached_manifest(copy) == onnx.manifest  # whole: used as it is
    with (copy / "model.onnx").open("r+b") as model:  # one byte changed, same size
        model.seek(1000)
        byte = model.read(1)
        model.seek(1000)
        model.write(bytes([byte[0] ^ 0xFF]))
    assert cached_manifest(copy) is None  # not used: it would be exported again
    (copy / "model.onnx").write_bytes(b"")
    assert cached_manifest(copy) is None
    (copy / "manifest.json").write_text("{")
    assert cached_manifest(copy) is None


def test_the_query_path_does_not_import_torch():
    OnnxEmbedder()  # exported in this process if the cache was empty
    code = (
        "import sys, json; from index.embedders import OnnxEmbedder; e = OnnxEmbedder(); e.encode(['a question']);"
        "print(json.dumps([m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_tuned_question_encoder_is_the_installed_model_with_its_committed_top_layers(embedder):
    """Only the question side is tuned (issue 22): the committed file holds the top layers alone,
    trained on top of the installed model's weights, and the ONNX model assembled from them encodes a
    question as torch does with those layers, and differently from the installed model."""
    from safetensors import safe_open

    from eval.train_question_encoder import base_sha256, encode, tuned_names
    from index.embedders import tuned_question_embedder
    from qa.rankers import DEFAULT_QUESTION_ENCODER

    with safe_open(str(DEFAULT_QUESTION_ENCODER), "np") as handle:
        metadata = handle.metadata()
        layers = {name: handle.get_tensor(name) for name in handle.keys()}
    assert layers and all(name.startswith(tuned_names()) for name in layers)
    assert metadata["base_sha256"] == base_sha256()
    assert json.loads(metadata["record"])["trained_on"] == ["eval/sets/wikinews-train.jsonl"]
    questions = ["How many people died in the fire?", "What did Peskov say about the talks?"]
    tuned = tuned_question_embedder(DEFAULT_QUESTION_ENCODER).encode(questions)
    assert np.abs(tuned - encode({k: v.astype(np.float32) for k, v in layers.items()}, questions)).max() <= 1e-3
    assert (tuned * embedder.encode(questions)).sum(axis=1).max() < 0.99  # not the installed model's vectors


def test_a_question_encoder_that_does_not_fit_the_installed_model_is_refused_with_the_way_to_rebuild_it(tmp_path):
    from safetensors.numpy import save_file

    from index.embedders import ModelNotFoundError, tuned_question_embedder

    other = tmp_path / "other.safetensors"
    save_file({"encoder.layer.5.output.dense.bias": np.zeros(384, np.float16)}, str(other), metadata={"base_sha256": "0" * 64})
    with pytest.raises(ModelNotFoundError, match="make train-reader"):
        tuned_question_embedder(other, cache=tmp_path / "cache")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    with pytest.raises(ModelNotFoundError, match="broken.safetensors"):
        tuned_question_embedder(broken, cache=tmp_path / "cache")
    assert not any((tmp_path / "cache").glob("question-encoder-*/model.safetensors"))
