"""The ONNX embedder: sentence-transformers' vectors, from a checked cache, without importing torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np

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
