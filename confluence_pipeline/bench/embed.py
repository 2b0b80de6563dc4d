"""The embedding benchmark: today's model and the one the index uses, side by side in one run.

    confluence-pipeline bench embed --scale 1000 [--models a,b,...] [--json]

It generates a site, syncs it with semantic ranking off (content, access, documents, BM25 index),
then, for each model, in a process of its own so that peak memory is the model's: embeds every
chunk of the index into `search_vectors` (timed) and counts the planted facts that hybrid search
ranks in the top 5. The models:
    minilm-torch         all-MiniLM-L6-v2 run by PyTorch in float32, mean-pooled over 128 word
                         pieces, texts sorted by length in batches of 64: what `search_index`
                         embedded with first (sentence-transformers' computation)
    minilm-onnx-int8     the same weights exported to ONNX with int8 weights (a scale per channel),
                         run by onnxruntime one text at a time (bench/embed_models.py)
    minilm-onnx-int8-x2  the same, in two threads of one call at a time each (a stream per core)
    minilm-model2vec     the static model distilled from the same weights that search/semantic.py
                         uses: a word-piece vector table, 256 dimensions
Load time is the model's first load in the process: it includes the one-time ONNX export or
distillation when the machine has no cached copy yet. The workers run with HF_HUB_OFFLINE=1, so
any attempt to reach the Hugging Face hub would fail the run. Seconds are wall time; CPU s is the
process's CPU time for the same work (both cores count), a steadier figure when other jobs share
the machine. "cos to torch" compares each chunk's vector with PyTorch's: meaningful for the
transformer's exports only (the static model's vectors live in another space, so it shows n/a).
With minilm-model2vec among the models, two more first syncs into new lakes are timed, with
search.semantic off and on (the model cached by then): the cost of the semantic extra to a sync.
Figures are printed, never asserted.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

MODELS = ("minilm-torch", "minilm-onnx-int8", "minilm-onnx-int8-x2", "minilm-model2vec")
BASELINE = "minilm-torch"


def _load(model: str) -> tuple[Any, str]:
    """The model's embed function and the name its vectors are recorded under."""
    from ..search import semantic
    from . import embed_models

    if model == "minilm-torch":
        return embed_models.TorchMiniLM().embed, model
    if model.startswith("minilm-onnx-int8"):
        embed = embed_models.OnnxMiniLM(streams=2 if model.endswith("-x2") else 1).embed
        embed(["warm up"])
        return embed, model
    semantic.embed(["warm up"])  # loads the model (and distills it on the machine's first use)
    return semantic.embed, semantic.model_name()


def _worker(model: str, data_dir: str, account_id: str, facts: list[list[str]]) -> dict[str, Any]:
    """Embed every chunk with `model`, store the vectors, then count the planted facts in the top 5."""
    from ..storage.lake import Lake
    from ..storage.warehouse import Warehouse
    from ..search import query as search_query
    from ..search.index import VECTORS_MODEL_KEY, index_text, insert_arrow

    started = time.perf_counter()
    embed, name = _load(model)
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
        dims = vectors.shape[1]
        with wh.transaction():
            wh.run("CREATE OR REPLACE TABLE search_vectors (chunk_key INTEGER NOT NULL, vector FLOAT[] NOT NULL)")
            insert_arrow(wh, "search_vectors", pa.table({
                "chunk_key": pa.array([r[0] for r in rows], pa.int32()),
                "vector": pa.ListArray.from_arrays(pa.array(range(0, (len(rows) + 1) * dims, dims), pa.int32()),
                                                   pa.array(vectors.ravel(), pa.float32()))}))
            wh.set_state(VECTORS_MODEL_KEY, name)
    # the query is embedded by the model under test (search itself always uses semantic.embed_query)
    search_query.semantic = _QueryModel(embed, name, dims)  # type: ignore[assignment]
    with search_query.Searcher(lake) as searcher:
        found = sum(content_id in [h.content_id for h in searcher.search(q, as_user=account_id, limit=5,
                                                                         mode="hybrid")]
                    for q, content_id in facts)
    return {"model": model, "chunks": len(texts), "dimensions": dims, "seconds": seconds,
            "chunks_per_s": len(texts) / seconds, "cpu_s": cpu_seconds, "chunks_per_cpu_s": len(texts) / cpu_seconds,
            "load_s": load_s, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "facts_in_top5": found, "facts": len(facts)}


class _QueryModel:
    """search/query.py's view of search/semantic.py, with queries embedded by another model."""

    def __init__(self, embed: Any, name: str, dims: int) -> None:
        from ..search import semantic

        self._semantic, self._embed, self._name, self.DIMENSIONS = semantic, embed, name, dims

    def __getattr__(self, name: str) -> Any:
        return getattr(self._semantic, name)

    def model_name(self) -> str:
        return self._name

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0].tolist()


def bench_embed(scale: int = 1_000, seed: int = 42, models: list[str] | tuple[str, ...] = MODELS,
                progress=print) -> dict[str, Any]:
    from ..emulator.app import DEFAULT_EMAIL
    from .common import generated_site
    from .search import sync_for_search

    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise ValueError(f"bench embed: unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    with generated_site(scale, seed, progress) as emu, tempfile.TemporaryDirectory() as tmp:
        progress("syncing with semantic ranking off (content, access, documents, BM25 index)")
        sync_for_search(emu, Path(tmp), "off")
        facts = [list(f) for f in emu.ws.planted_facts]
        results = []
        for model in models:
            progress(f"embedding every chunk with {model} (a process of its own)")
            job = {"model": model, "data_dir": str(Path(tmp) / "data"), "account_id": DEFAULT_EMAIL,
                   "facts": facts}
            done = subprocess.run([sys.executable, "-m", __name__], input=json.dumps(job), text=True,
                                  capture_output=True, check=False, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            if done.returncode:
                raise RuntimeError(f"bench embed: {model} failed:\n{done.stderr[-3000:]}")
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        # how close each model's vector of a chunk is to PyTorch's (1.0: the same direction)
        base = np.load(Path(tmp) / f"{BASELINE}.npy") if BASELINE in models else None
        for result in results:
            vectors = np.load(Path(tmp) / f"{result['model']}.npy")
            if base is not None and vectors.shape == base.shape:
                cosines = (vectors * base).sum(axis=1)
                result["cosine_to_torch_mean"], result["cosine_to_torch_min"] = float(cosines.mean()), float(cosines.min())
        first_sync = {}
        if "minilm-model2vec" in models:  # a first sync into a new lake, without and with the index's model
            for setting in ("off", "on"):
                progress(f"a first sync into a new lake with search.semantic {setting} (timed)")
                (Path(tmp) / setting).mkdir()
                started = time.perf_counter()
                sync_for_search(emu, Path(tmp) / setting, setting)
                first_sync[setting] = time.perf_counter() - started
    return {"scale": scale, "seed": seed, "models": results, "first_sync_s": first_sync}


def format_report(r: dict[str, Any]) -> str:
    base = next((m["chunks_per_s"] for m in r["models"] if m["model"] == BASELINE), None)
    lines = [f"embed bench, seed {r['seed']}, scale {r['scale']:,}",
             f"  {'model':<21}{'chunks':>8}{'seconds':>9}{'chunks/s':>10}{'speed-up':>10}{'CPU s':>8}{'per CPU s':>11}"
             f"{'load s':>8}{'peak RSS MB':>13}{'recall top 5':>14}{'cos to torch mean/min':>23}"]
    for m in r["models"]:
        speed_up = f"{m['chunks_per_s'] / base:>9.1f}x" if base else f"{'n/a':>10}"
        cosine = (f"{m['cosine_to_torch_mean']:>15.4f}/{m['cosine_to_torch_min']:.4f}" if "cosine_to_torch_mean" in m
                  else f"{'n/a':>22}")
        lines.append(f"  {m['model']:<21}{m['chunks']:>8,}{m['seconds']:>9.1f}{m['chunks_per_s']:>10,.0f}{speed_up}"
                     f"{m['cpu_s']:>8.1f}{m['chunks_per_cpu_s']:>11,.0f}{m['load_s']:>8.1f}{m['peak_rss_mb']:>13,.0f}"
                     f"{m['facts_in_top5']:>9}/{m['facts']:<4}{cosine}")
    sync = r.get("first_sync_s", {})
    if "on" in sync:
        lines.append(f"  first sync (one Dagster run): {sync['off']:.1f} s with search.semantic off, {sync['on']:.1f} s "
                     f"with it on ({sync['on'] / sync['off']:.2f}x)")
    return "\n".join(lines)


if __name__ == "__main__":
    job = json.loads(sys.stdin.read())
    print(json.dumps(_worker(job["model"], job["data_dir"], job["account_id"], job["facts"])))
