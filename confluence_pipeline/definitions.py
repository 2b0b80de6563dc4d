"""The Dagster code location: `dagster dev` (workspace.yaml) loads `defs` from here."""

from __future__ import annotations

import os

import dagster as dg

from .component import bundled_definitions
from .settings import SettingsError

# CONFLUENCE_EXECUTOR: how a run's steps execute. in_process (default: one process, the demo and
# one machine), multiprocess (independent steps in parallel processes), k8s (a pod per step;
# deploy/helm-values.yaml, needs the k8s extra).
EXECUTORS = ("in_process", "multiprocess", "k8s")


def executor_from_env() -> dg.ExecutorDefinition:
    name = os.environ.get("CONFLUENCE_EXECUTOR", "in_process")
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "k8s":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError:
            raise SettingsError("CONFLUENCE_EXECUTOR=k8s needs dagster-k8s: pip install "
                                "'confluence_pipeline[k8s]' (deploy/Dockerfile does)") from None
        return k8s_job_executor
    raise SettingsError(f"CONFLUENCE_EXECUTOR must be one of {', '.join(EXECUTORS)}, not {name!r}")


def build_definitions() -> dg.Definitions:
    """The bundled project's one site (ConfluenceComponent's definitions, unnamed), run by the executor
    CONFLUENCE_EXECUTOR names. By default a run's steps share one process; separate runs (a backfill
    beside the schedule's) write the lake side by side."""
    return bundled_definitions(executor=executor_from_env())


defs = build_definitions()
