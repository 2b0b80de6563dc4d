"""The embedding benchmark: today's model and the one the index uses, side by side in one run.

    confluence-pipeline bench embed --scale 1000 [--json]

It generates a site, syncs it with semantic ranking off (content, access, documents, BM25 index),
then, for each model, in a process of its own so that peak memory is the model's: embeds every
chunk of the index into `search_vectors` (timed) and counts the planted facts that hybrid search
ranks in the top 5. The models:
    minilm-torch      all-MiniLM-L6-v2 run by PyTorch in float32, mean-pooled over 128 word pieces,
                      texts sorted by length in batches of 64: what `search_index` embedded with
                      before (sentence-transformers' computation)
    minilm-onnx-int8  the same weights exported to ONNX with int8 weights (a scale per channel),
                      run by onnxruntime one text at a time: what search/semantic.py uses
Load time is the model's first load in the process: for minilm-onnx-int8 it includes the one-time
export when the machine has no cached ONNX file yet.
Seconds are wall time; CPU s is the process's CPU time for the same work (both cores count), a
steadier figure when other jobs share the machine. Figures are printed, never asserted.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

MODELS = ("minilm-torch", "minilm-onnx-int8")
TORCH_BATCH = 64


class TorchMiniLM:
    """all-MiniLM-L6-v2 on PyTorch: token embeddings mean-pooled under the attention mask, unit length;
    texts sorted by length first, as sentence-transformers does, so batches carry little padding."""

    def __init__(self) -> None:
        import torch
        from transformers import AutoModel

        from . import semantic

        self.torch = torch
        self.model = AutoModel.from_pretrained(str(semantic.model_path()), local_files_only=True).eval()
        self.tokenizer = semantic._tokenizer()

    def embed(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)  # truncated to 128 word pieces, [SEP] last
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        out = np.zeros((len(texts), 384), np.float32)
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


def _worker(model: str, data_dir: str, account_id: str, facts: list[list[str]]) -> dict[str, Any]:
    """Embed every chunk with `model`, store the vectors, then count the planted facts in the top 5."""
    from ..storage.lake import Lake
    from ..storage.warehouse import Warehouse
    from . import query as search_query, semantic
    from .index import _insert, index_text

    started = time.perf_counter()
    if model == "minilm-torch":
        embed = TorchMiniLM().embed
    else:
        semantic.embed(["warm up"])  # loads the model (and exports it on the machine's first use)
        embed = semantic.embed
    load_s = time.perf_counter() - started
    lake = Lake.local(Path(data_dir))
    with Warehouse(lake) as wh:
        rows = wh.run("""SELECT c.chunk_key, d.title, d.headings, d.text FROM search_chunks c
                         JOIN documents d USING (chunk_id) ORDER BY c.chunk_key""")
        texts = [index_text(title, headings, text) for _, title, headings, text in rows]
        started, cpu_started = time.perf_counter(), time.process_time()
        vectors = embed(texts)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        np.save(Path(data_dir).parent / f"{model}.npy", vectors)
        with wh.transaction():
            wh.run("CREATE OR REPLACE TABLE search_vectors (chunk_key INTEGER NOT NULL, vector FLOAT[] NOT NULL)")
            _insert(wh, "search_vectors", pa.table({
                "chunk_key": pa.array([r[0] for r in rows], pa.int32()),
                "vector": pa.ListArray.from_arrays(
                    pa.array(range(0, (len(rows) + 1) * semantic.DIMENSIONS, semantic.DIMENSIONS), pa.int32()),
                    pa.array(vectors.ravel(), pa.float32()))}))
    # the query is embedded by the model under test (search itself always uses semantic.embed_query)
    search_query.semantic = _QueryModel(embed)  # type: ignore[assignment]
    with search_query.Searcher(lake) as searcher:
        found = sum(content_id in [h.content_id for h in searcher.search(q, as_user=account_id, limit=5,
                                                                         mode="hybrid")]
                    for q, content_id in facts)
    return {"model": model, "chunks": len(texts), "seconds": seconds, "chunks_per_s": len(texts) / seconds,
            "cpu_s": cpu_seconds, "chunks_per_cpu_s": len(texts) / cpu_seconds,
            "load_s": load_s, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "facts_in_top5": found, "facts": len(facts)}


class _QueryModel:
    """search/query.py's view of search/semantic.py, with queries embedded by another model."""

    def __init__(self, embed: Any) -> None:
        from . import semantic

        self._semantic, self._embed = semantic, embed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._semantic, name)

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0].tolist()


def bench_embed(scale: int = 1_000, seed: int = 42, progress=print) -> dict[str, Any]:
    from datetime import datetime, timezone

    from ..emulator.app import DEFAULT_EMAIL, Emulator
    from .bench import _sync

    anchor = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    progress(f"generating the site (seed {seed}, scale {scale:,})")
    emu = Emulator(seed=seed, scale=scale, anchor=anchor)
    emu.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            progress("syncing with semantic ranking off (content, access, documents, BM25 index)")
            _sync(emu, Path(tmp), "off")
            facts = [list(f) for f in emu.ws.planted_facts]
            results = []
            for model in MODELS:
                progress(f"embedding every chunk with {model} (a process of its own)")
                job = {"model": model, "data_dir": str(Path(tmp) / "data"), "account_id": DEFAULT_EMAIL,
                       "facts": facts}
                done = subprocess.run([sys.executable, "-m", __name__], input=json.dumps(job), text=True,
                                      capture_output=True, check=False)
                if done.returncode:
                    raise RuntimeError(f"bench embed: {model} failed:\n{done.stderr[-3000:]}")
                results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            # how close each model's vector of a chunk is to today's (1.0: the same direction)
            base = np.load(Path(tmp) / f"{MODELS[0]}.npy")
            for result in results:
                cosines = (np.load(Path(tmp) / f"{result['model']}.npy") * base).sum(axis=1)
                result["cosine_to_torch_mean"], result["cosine_to_torch_min"] = float(cosines.mean()), float(cosines.min())
    finally:
        emu.stop()
    return {"scale": scale, "seed": seed, "models": results}


def format_report(r: dict[str, Any]) -> str:
    base = r["models"][0]["chunks_per_s"]
    lines = [f"embed bench, seed {r['seed']}, scale {r['scale']:,}",
             f"  {'model':<18}{'chunks':>8}{'seconds':>10}{'chunks/s':>10}{'speed-up':>10}{'CPU s':>8}{'per CPU s':>11}{'load s':>8}"
             f"{'peak RSS MB':>13}{'recall top 5':>14}{'cos to torch mean/min':>23}"]
    for m in r["models"]:
        lines.append(f"  {m['model']:<18}{m['chunks']:>8,}{m['seconds']:>10.1f}{m['chunks_per_s']:>10.0f}"
                     f"{m['chunks_per_s'] / base:>9.1f}x{m['cpu_s']:>8.1f}{m['chunks_per_cpu_s']:>11.0f}{m['load_s']:>8.1f}{m['peak_rss_mb']:>13,.0f}"
                     f"{m['facts_in_top5']:>9}/{m['facts']:<4}"
                     f"{m['cosine_to_torch_mean']:>15.4f}/{m['cosine_to_torch_min']:.4f}")
    return "\n".join(lines)


if __name__ == "__main__":
    job = json.loads(sys.stdin.read())
    print(json.dumps(_worker(job["model"], job["data_dir"], job["account_id"], job["facts"])))
