"""Effective permissions: who can see what, built in DuckDB from the synced directory."""

from .model import AccessModel, AccessSummary, Clause, Viewer, VisibleItem, build_content_access

__all__ = ["AccessModel", "AccessSummary", "Clause", "Viewer", "VisibleItem", "build_content_access"]
