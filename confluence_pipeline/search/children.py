"""CPU work of a large rebuild spread over child processes: `mapped` maps a function over
batches in CHILDREN processes and yields the results in order, while the caller's own process
goes on reading and writing the lake.

The children are plain subprocesses spoken to in pickles over stdin and stdout (as the
extractor's), not multiprocessing's: its spawn re-runs the caller's main module, a user's script
without a main guard. Each child holds one batch at a time, so neither side ever waits on a full
pipe: the caller writes a batch while the child reads it, and reads the answer while it is written.
"""

from __future__ import annotations

import importlib
import pickle
import subprocess
import sys
from collections import deque
from typing import Any, Callable, Iterable, Iterator, TypeVar

CHILDREN = 2  # this machine class has 2 cores; the caller's process takes the lake's share

Key = TypeVar("Key")


class _Child:
    def __init__(self, function: str, shared: Any) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", f"from {__name__} import _serve; _serve()", function],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.send(shared)

    def send(self, value: Any) -> None:
        assert self.process.stdin is not None
        pickle.dump(value, self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self.process.stdin.flush()

    def receive(self) -> Any:
        try:
            return pickle.load(self.process.stdout)  # type: ignore[arg-type]
        except EOFError:
            raise RuntimeError(f"a child process died (exit code {self.process.wait()}): the run's log shows "
                               "its error; running out of memory is the usual cause") from None

    def close(self) -> None:
        """No more batches (the child exits), and no reader for an answer left unread."""
        for stream in (self.process.stdout, self.process.stdin):
            if stream is not None:
                stream.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def mapped(function: Callable[[Any, Any], Any], shared: Any, batches: Iterable[tuple[Key, Any]], *,
           in_children: bool) -> Iterator[tuple[Key, Any]]:
    """(key, function(batch, shared)) for each (key, batch), in order: computed in CHILDREN
    processes when `in_children` (a large rebuild), else here (a start of children would cost
    more than the work)."""
    if in_children:
        yield from _in_children(function, shared, batches)
    else:
        for key, batch in batches:
            yield key, function(batch, shared)


def _in_children(function: Callable[[Any, Any], Any], shared: Any,
                 batches: Iterable[tuple[Key, Any]]) -> Iterator[tuple[Key, Any]]:
    """`mapped` in child processes; `function` is a module-level function, `shared` what every
    call takes (sent once). Batch i goes to child i mod CHILDREN."""
    children = [_Child(f"{function.__module__}:{function.__qualname__}", shared) for _ in range(CHILDREN)]
    pending: deque[tuple[Key, _Child]] = deque()  # batches sent, oldest first
    try:
        for i, (key, batch) in enumerate(batches):
            if len(pending) == CHILDREN:  # the oldest batch is this child's: take its answer first
                done, child = pending.popleft()
                yield done, child.receive()
            children[i % CHILDREN].send(batch)
            pending.append((key, children[i % CHILDREN]))
        while pending:
            done, child = pending.popleft()
            yield done, child.receive()
    finally:
        for child in children:
            child.close()


def _serve() -> None:
    """A child: the function's import path in argv[1]; `shared`, then batches on stdin, each
    answered on stdout."""
    module, name = sys.argv[1].split(":")
    function = getattr(importlib.import_module(module), name)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # whatever a library prints cannot garble an answer
    shared = pickle.load(stdin)
    while True:
        try:
            batch = pickle.load(stdin)
        except EOFError:
            return
        pickle.dump(function(batch, shared), stdout, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.flush()
