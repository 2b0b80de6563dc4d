"""The transformer models `bench embed` compares the index's static model with (search/semantic.py).

    TorchMiniLM   all-MiniLM-L6-v2 on PyTorch in float32, as sentence-transformers runs it: what
                  `search_index` embedded with before the ONNX export
    OnnxMiniLM    the same weights exported to ONNX with int8 weights, run by onnxruntime one text
                  per call, in one stream or in several threads: what `search_embeddings` used
                  before the static model

Both read the first 128 word pieces (what the model was trained on) and pool as
sentence-transformers does: the mean of the token vectors under the attention mask, unit length.
The ONNX file is exported from the packaged weights once and cached beside the static model
(search/semantic.py's cache folder), keyed by the model package's version. Nothing is downloaded.
"""

from __future__ import annotations

import functools
import os
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..search import semantic

DIMENSIONS = 384
MAX_TOKENS = 128
TORCH_BATCH = 64


@functools.lru_cache(maxsize=1)
def tokenizer() -> Any:
    from tokenizers import Tokenizer

    t = Tokenizer.from_file(str(semantic.model_path() / "tokenizer.json"))
    t.no_padding()
    t.enable_truncation(MAX_TOKENS)  # keeps [CLS] first and [SEP] last
    return t


class TorchMiniLM:
    """Token vectors mean-pooled under the attention mask, unit length; texts sorted by length
    first, as sentence-transformers does, so batches carry little padding."""

    def __init__(self) -> None:
        import torch
        from transformers import AutoModel

        self.torch = torch
        self.model = AutoModel.from_pretrained(str(semantic.model_path()), local_files_only=True).eval()

    def embed(self, texts: list[str]) -> np.ndarray:
        encodings = tokenizer().encode_batch(texts)
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        out = np.zeros((len(texts), DIMENSIONS), np.float32)
        for first in range(0, len(order), TORCH_BATCH):
            rows = order[first:first + TORCH_BATCH]
            width = max(len(encodings[r].ids) for r in rows)
            ids = np.zeros((len(rows), width), np.int64)
            mask = np.zeros_like(ids)
            for i, r in enumerate(rows):
                ids[i, :len(encodings[r].ids)] = encodings[r].ids
                mask[i, :len(encodings[r].ids)] = 1
            with self.torch.inference_mode():
                hidden = self.model(input_ids=self.torch.from_numpy(ids),
                                    attention_mask=self.torch.from_numpy(mask)).last_hidden_state.numpy()
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out


def onnx_file() -> Path:
    return semantic.cache_folder() / f"minilm-l6-v2-int8-{semantic._model_version()}.onnx"


def export(target: Path) -> None:
    """Write the packaged model as ONNX with int8 weights to `target`: the transformer's token
    vectors (`last_hidden_state`) for `input_ids` and `attention_mask` of any batch and length.
    Needs torch, transformers, onnx and onnxruntime."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    # eager attention: plain ops that the tracer records whatever the mask (sdpa decides in Python)
    model = AutoModel.from_pretrained(str(semantic.model_path()), local_files_only=True,
                                      attn_implementation="eager").eval()

    class TokenVectors(torch.nn.Module):  # the transformer's token vectors alone, without its pooler
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    # traced on a padded batch, so that the graph applies the attention mask rather than skip it
    ids = torch.tensor([tokenizer().encode("a longer example to trace the model with").ids,
                        tokenizer().encode("a short one").ids + [0] * 5])
    axes = {0: "batch", 1: "tokens"}
    with tempfile.TemporaryDirectory() as tmp:
        float_file = Path(tmp) / "model.onnx"
        # the TorchScript exporter: its warnings about tracing concern shapes fixed for this model
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(TokenVectors(), (ids, (ids != 0).long()), str(float_file), dynamo=False,
                              opset_version=17, input_names=["input_ids", "attention_mask"],
                              output_names=["last_hidden_state"],
                              dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes})
        # a scale per output channel of each weight matrix: vectors 0.99 cosine-similar to float32's
        quantize_dynamic(float_file, target, weight_type=QuantType.QInt8, per_channel=True)


class OnnxMiniLM:
    """The int8 export, one text per call (int8 activations are scaled per call, so a text's vector
    does not depend on its neighbours), in `streams` threads that each run one call at a time."""

    def __init__(self, streams: int = 1) -> None:
        import onnxruntime

        path = onnx_file()
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            part = Path(tempfile.mkdtemp(dir=path.parent, prefix=".export-")) / path.name
            try:
                export(part)
                os.replace(part, path)
            finally:
                part.unlink(missing_ok=True)
                part.parent.rmdir()
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = 1 if streams > 1 else 0
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.streams = streams

    def _one(self, ids: list[int]) -> np.ndarray:
        array = np.array([ids], np.int64)
        hidden = self.session.run(["last_hidden_state"], {"input_ids": array, "attention_mask": np.ones_like(array)})
        pooled = hidden[0][0].mean(axis=0)
        return pooled / np.linalg.norm(pooled)

    def embed(self, texts: list[str]) -> np.ndarray:
        ids = [e.ids for e in tokenizer().encode_batch(texts)]
        if self.streams == 1:
            rows = [self._one(i) for i in ids]
        else:  # onnxruntime lets go of the GIL while it runs
            with ThreadPoolExecutor(self.streams) as pool:
                rows = list(pool.map(self._one, ids))
        return np.array(rows, np.float32).reshape(len(texts), DIMENSIONS)
