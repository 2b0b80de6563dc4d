"""Permission-aware full-text search over the synced copy: documents, BM25 index, queries."""

from .query import Hit, Searcher, SearchError, search

__all__ = ["Hit", "Searcher", "SearchError", "search"]
