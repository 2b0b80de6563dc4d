"""Extraction in a child process (`Extractor`): killed when a file overruns the time limit, held to
the memory limit, and kept from taking the run down when a parser crashes."""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import subprocess
import sys
import threading
from pathlib import Path

from .attachments import Extracted, Limits, extract_file, file_kind


class Extractor:
    """Extraction in a child process, killed when a file overruns `limits.max_seconds`.

    The child is a fresh Python running `serve`, spoken to in JSON lines over its stdin and
    stdout (a plain subprocess: multiprocessing's spawn would re-run the caller's main module).
    One child serves a whole run and is restarted after a kill or a crash.
    """

    def __init__(self, limits: Limits = Limits(), *, grace_s: float = 5.0) -> None:
        self.limits = limits
        self.grace_s = grace_s  # past the cooperative deadline, before the child is killed
        self._process: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[str] = queue.Queue()

    def __enter__(self) -> "Extractor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def extract(self, path: Path, media_type: str | None, filename: str | None) -> Extracted:
        return Extracted.from_json(self.extract_json(path, media_type, filename))

    def extract_json(self, path: Path, media_type: str | None, filename: str | None) -> str:
        """`extract`'s result as `Extracted.to_json` writes it, for callers that store it: the
        child's reply as it came, not decoded and encoded again (megabytes for a large file)."""
        if file_kind(media_type, filename) is None:
            return _skipped(f"unsupported file type ({media_type or 'unknown'})")
        process = self._child()
        try:
            assert process.stdin is not None
            process.stdin.write(json.dumps({"path": str(path), "media_type": media_type, "filename": filename}) + "\n")
            process.stdin.flush()
            reply = self._replies.get(timeout=self.limits.max_seconds + self.grace_s)
        except queue.Empty:
            self._kill()
            return _skipped(f"took longer than {self.limits.max_seconds:g} s")
        except OSError:
            reply = ""
        if not reply:  # the child died: end of its output
            self._kill()
            return _skipped("the extracting process died on this file "
                            "(out of memory, or a crash inside a parser)")
        return reply.rstrip("\n")

    def _child(self) -> subprocess.Popen[str]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._kill()
        limits = json.dumps(dataclasses.asdict(self.limits))
        process = subprocess.Popen([sys.executable, "-c", f"from {__name__} import serve; serve()", limits],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
                                   bufsize=1)
        self._replies = queue.Queue()
        threading.Thread(target=_read_lines, args=(process, self._replies), daemon=True).start()
        self._process = process
        return process

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()
        self._process = None

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None and self._process.stdin is not None:
            try:
                self._process.stdin.close()  # end of requests: the child exits
                self._process.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()


def _skipped(reason: str) -> str:
    return Extracted(status="skipped", reason=reason).to_json()


def _read_lines(process: subprocess.Popen[str], replies: queue.Queue[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        replies.put(line)
    replies.put("")  # end of output: the child is gone


def serve() -> None:
    """The child: limits as JSON in argv[1]; one JSON request per line on stdin, one JSON result
    per line on stdout."""
    limits = Limits(**json.loads(sys.argv[1]))
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limits.max_memory_bytes, limits.max_memory_bytes))
    except (ImportError, ValueError, OSError):
        pass  # no address-space limit on this platform
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed-PDF chatter; the outcome is recorded
    replies, sys.stdout = sys.stdout, sys.stderr  # whatever a library prints cannot garble a reply
    for line in sys.stdin:
        request = json.loads(line)
        result = extract_file(Path(request["path"]), request["media_type"], request["filename"], limits)
        replies.write(result.to_json() + "\n")
        replies.flush()
