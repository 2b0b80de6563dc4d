"""The client's `requests.Session`: the proxy environment read once per host, not on every call.

With `trust_env` (the default, which users behind a proxy rely on), requests reads every
environment variable several times per request: merging the settings, and again preparing the
next hop of a redirect even when it is not followed (each attachment download is one). On this
connector's hot path, thousands of downloads, that was about half of a call's CPU in the client.
`Session` keeps requests' rules (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE,
CURL_CA_BUNDLE), answered once per scheme and host and remembered: a change to the environment
after a host's first call is seen by the next session.
"""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.utils import get_environ_proxies, should_bypass_proxies


class Session(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._environ_proxies: dict[tuple[str, str, str | None], tuple[dict[str, str], bool]] = {}
        self._ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")

    def _environment(self, url: str, no_proxy: str | None) -> tuple[dict[str, str], bool]:
        """The environment's proxies for `url`, and whether NO_PROXY exempts its host."""
        scheme, host = urlsplit(url)[:2]
        key = (scheme, host, no_proxy)
        with self._lock:
            known = self._environ_proxies.get(key)
        if known is None:
            known = (get_environ_proxies(url, no_proxy=no_proxy),
                     should_bypass_proxies(url, no_proxy=no_proxy))
            with self._lock:
                self._environ_proxies[key] = known
        return known

    def merge_environment_settings(self, url: str, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict:
        """requests.Session's, with the environment read through `_environment`."""
        if self.trust_env:
            no_proxy = proxies.get("no_proxy") if proxies is not None else None
            environ_proxies, _ = self._environment(url, no_proxy)
            if proxies is not None:
                for scheme, proxy in environ_proxies.items():
                    proxies.setdefault(scheme, proxy)
            if verify is True or verify is None:
                verify = self._ca_bundle or verify
        return {"proxies": requests.sessions.merge_setting(proxies, self.proxies),
                "stream": requests.sessions.merge_setting(stream, self.stream),
                "verify": requests.sessions.merge_setting(verify, self.verify),
                "cert": requests.sessions.merge_setting(cert, self.cert)}

    def rebuild_proxies(self, prepared_request: requests.PreparedRequest, proxies: Any) -> dict[str, str]:
        """requests.Session's (through `requests.utils.resolve_proxies`), with the environment read
        through `_environment`."""
        proxies = dict(proxies or {})
        url = prepared_request.url or ""
        scheme = urlsplit(url).scheme
        if self.trust_env:
            environ_proxies, bypass = self._environment(url, proxies.get("no_proxy"))
            proxy = None if bypass else environ_proxies.get(scheme, environ_proxies.get("all"))
            if proxy:
                proxies.setdefault(scheme, proxy)
        headers = prepared_request.headers
        headers.pop("Proxy-Authorization", None)
        try:
            username, password = requests.utils.get_auth_from_url(proxies[scheme])
        except KeyError:
            username, password = None, None
        if not scheme.startswith("https") and username and password:  # never inside a TLS tunnel
            headers["Proxy-Authorization"] = requests.auth._basic_auth_str(username, password)
        return proxies
