"""The two halves of an attachment download that are not the call itself: whether the download's
redirect may receive our credentials, and saving the bytes (atomically, within a size cap, and
ending at once when the client is stopped). `ContentReads.download_attachment` puts them together.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

import requests

from .errors import TooLarge
from .pagination import site_path
from .ratelimit import Stopped

DEFAULT_MAX_DOWNLOAD = 100 * 1024 * 1024


def redirect_target(location: str, site_url: str, root_url: str) -> tuple[str, bool]:
    """Where a download redirect points: (site path or absolute URL, whether to send our auth)."""
    parts = urlsplit(location)
    if not parts.netloc:
        return site_path(location if location.startswith("/") else "/" + location), True
    ours = {urlsplit(site_url).netloc, urlsplit(root_url).netloc}
    if parts.netloc in ours and "/wiki/" in parts.path:
        return site_path(location), True
    return location, False


def save(response: requests.Response, dest: Path, max_bytes: int, attachment_id: str,
          stop: threading.Event) -> int:
    """Stream a download to `dest` through a temporary file; nothing is left behind on failure, or
    when the client is stopped half-way (a 150 MB file does not hold a cancelled step up)."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"Attachment {attachment_id} is {int(declared)} bytes, over the {max_bytes}-byte "
                       "download cap: raise the cap to fetch it, or leave it out", url=response.url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.part")
    size = 0
    try:
        with open(partial, "wb") as handle:
            for chunk in response.iter_content(chunk_size=64 * 1024):
                if stop.is_set():
                    raise Stopped(f"the client was stopped while downloading attachment {attachment_id}")
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"Attachment {attachment_id} is over the {max_bytes}-byte download cap: "
                                   "raise the cap to fetch it, or leave it out", url=response.url)
                handle.write(chunk)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return size
