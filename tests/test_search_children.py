"""The child processes of a large rebuild (search/children.py): results come back in order, and
a child that dies ends the rebuild with a clear error instead of a hang."""

from __future__ import annotations

import operator
import os

import pytest

from confluence_pipeline.search.children import CHILDREN, mapped


def test_batches_come_back_in_order_with_their_keys():
    batches = [(f"batch {i}", i) for i in range(4 * CHILDREN + 1)]  # each child takes several, in turn
    assert list(mapped(operator.add, 100, iter(batches), in_children=True)) == [(key, i + 100) for key, i in batches]


def test_a_child_that_dies_ends_the_work_with_a_clear_error():
    # os._exit takes one argument: called as function(batch, shared), it fails and the child dies
    with pytest.raises(RuntimeError, match="a child process died"):
        list(mapped(os._exit, 0, iter([("only", 1)]), in_children=True))
