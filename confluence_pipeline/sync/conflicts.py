"""Running a step's work again when its commit lost a race with another writer.

On a PostgreSQL catalog writers commit side by side, and DuckLake refuses the second of two
commits that changed the same table (a delete in both, say) with a conflict: nothing of it was
written. Every sync step is idempotent, so the whole step runs again, after a jittered wait.
"""

from __future__ import annotations

import random
import time
from typing import Callable, TypeVar

from ..storage.lake import WriteConflict

T = TypeVar("T")
ATTEMPTS = 6


def retry_on_conflict(work: Callable[[], T], *, progress: Callable[[str], None] = lambda message: None,
                      attempts: int = ATTEMPTS) -> T:
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except WriteConflict as exc:
            if attempt == attempts:
                raise
            wait = min(30.0, 0.5 * 2 ** attempt) * random.uniform(0.5, 1.5)
            progress(f"{exc}; running the step again in {wait:.1f} s (attempt {attempt + 1} of {attempts})")
            time.sleep(wait)
    raise AssertionError("unreachable")
