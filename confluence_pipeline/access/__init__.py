"""Effective permissions: who can see what, built in DuckDB from the synced directory."""

from .build import AccessSummary, update_content_access
from .model import AccessModel, Clause, Viewer, VisibleItem

__all__ = ["AccessModel", "AccessSummary", "Clause", "Viewer", "VisibleItem", "update_content_access"]
