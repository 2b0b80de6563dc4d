"""`confluence-pipeline auth login | status | logout`: the OAuth 2.0 (3LO) flow on a terminal.

`login` builds the authorization URL (state + PKCE), prints it and offers to open a browser,
receives the redirect on a one-shot HTTP server bound to the loopback host and port of the
configured callback URL, checks `state`, exchanges the code, reads accessible-resources to pick
the site (by the configured URL; asks when several and none is configured), checks that the
grant covers `REQUIRED_SCOPES`, and stores the tokens. `status` never shows a token.
"""

from __future__ import annotations

import socket
import time
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from .auth import CONSOLE_URL, REQUIRED_SCOPES, OAuthApp, is_loopback
from .errors import LOGIN_AGAIN, AuthError
from .tokens import TokenSet, TokenStore

LOGIN_TIMEOUT = 300.0
_DONE_PAGE = "Confluence Pipeline is authorized. You can close this tab and return to the terminal."
_FAILED_PAGE = "The authorization did not succeed. See the terminal for what to do."


def normalize_site_url(url: str) -> str:
    """`https://x.atlassian.net/wiki/` → `https://x.atlassian.net`, for comparing sites."""
    parts = urlsplit(url.strip() if "://" in url else f"https://{url.strip()}")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def login(app: OAuthApp, store: TokenStore, *, site_url: str | None = None,
          browser: Callable[[str], Any] | None = webbrowser.open, timeout: float = LOGIN_TIMEOUT,
          say: Callable[[str], None] = print, ask: Callable[[str], str] = input) -> TokenSet:
    """Run the whole 3LO login and store its tokens; returns them (their repr hides the tokens).

    `browser` opens the URL (None: only print it). `say`/`ask` talk to the user.
    """
    host, port, path = _callback_address(app.redirect_uri or "")
    request = app.authorization_request()
    with _CallbackServer(host, port, path) as server:
        app.check_authorization_url(request)
        say(f"Open this address in a browser and approve the access:\n\n  {request.url}\n")
        if browser is not None:
            browser(request.url)
        say(f"Waiting for Atlassian to redirect to {app.redirect_uri} ...")
        callback = server.wait(timeout)
    if callback.get("state") != request.state:
        raise AuthError("The authorization answer carried the wrong state: it came from another login "
                        f"attempt (an old browser tab) or was forged. Close old tabs and {LOGIN_AGAIN}")
    if "error" in callback:
        error, description = callback["error"], callback.get("error_description", "")
        if error == "access_denied":
            raise AuthError(f"The access request was declined on the consent screen "
                            f"({description or error}): {LOGIN_AGAIN} and choose Accept", detail=description)
        raise AuthError(f"Atlassian refused the authorization ({error}: {description}): check the app's "
                        f"permissions (scopes) at {CONSOLE_URL} and {LOGIN_AGAIN}", detail=description)
    if not callback.get("code"):
        raise AuthError(f"The redirect to {app.redirect_uri} carried no authorization code: {LOGIN_AGAIN}")
    response = app.exchange_code(callback["code"], request.code_verifier)
    if not response.get("refresh_token"):
        raise AuthError("Atlassian issued no refresh token, so the login would end within an hour: add the "
                        f"offline_access scope to the app at {CONSOLE_URL} and {LOGIN_AGAIN}")
    resources = app.accessible_resources(response["access_token"])
    site = _choose_site(resources, site_url, say, ask)
    scope = response.get("scope")
    if isinstance(scope, str) and scope.strip():
        granted = tuple(scope.split())
    else:
        granted = tuple(site.get("scopes") or ())
    missing = tuple(s for s in REQUIRED_SCOPES if s not in granted)
    if missing:
        raise AuthError(f"Authorization failed: the grant lacks {len(missing)} scope(s) the connector needs: "
                        f"{' '.join(missing)}. Add them on the app's Permissions page at {CONSOLE_URL}, then "
                        f"{LOGIN_AGAIN} and accept the new consent screen", missing_scopes=missing)
    tokens = TokenSet(access_token=response["access_token"], refresh_token=response["refresh_token"],
                      expires_at=TokenSet.expiry_from(response), scopes=granted,
                      site_url=normalize_site_url(site["url"]), cloud_id=site["id"],
                      site_name=site.get("name", ""))
    store.save(tokens)
    say(f"Logged in to {tokens.site_url} (cloud id {tokens.cloud_id}); tokens saved in {store.path}")
    return tokens


def status(store: TokenStore) -> dict[str, Any]:
    """What is stored, without any token: site, cloud id, scopes, expiry."""
    tokens = store.load()
    if tokens is None:
        return {"logged_in": False, "token_file": str(store.path)}
    return {"logged_in": True, "token_file": str(store.path), **tokens.describe(),
            "access_token_valid": tokens.fresh(margin=0)}


def logout(store: TokenStore) -> bool:
    """Forget the stored tokens; True when there were any."""
    return store.delete()


def _callback_address(redirect_uri: str) -> tuple[str, int, str]:
    parts = urlsplit(redirect_uri)
    if not redirect_uri or parts.scheme != "http" or not is_loopback(redirect_uri):
        raise AuthError(f"The callback URL {redirect_uri!r} is not a loopback address, so this computer "
                        "cannot receive the login's redirect: set CONFLUENCE_REDIRECT_URI to "
                        "http://127.0.0.1:<port>/<path> (or http://localhost:...) and register exactly that "
                        f"URL at {CONSOLE_URL}")
    if parts.port is None:
        raise AuthError(f"The callback URL {redirect_uri!r} has no port: use one such as "
                        f"http://127.0.0.1:8976/callback and register exactly that URL at {CONSOLE_URL}")
    return parts.hostname or "127.0.0.1", parts.port, parts.path or "/"


def _choose_site(resources: list[dict[str, Any]], site_url: str | None, say: Callable[[str], None],
                 ask: Callable[[str], str]) -> dict[str, Any]:
    if not resources:
        raise AuthError("Authorization failed: the login covers no Confluence site. The account may be a "
                        "guest (guests get no sites) or no site was chosen on the consent screen: "
                        f"{LOGIN_AGAIN} with an account that uses Confluence, and choose the site")
    if site_url:
        wanted = normalize_site_url(site_url)
        for resource in resources:
            if normalize_site_url(resource.get("url", "")) == wanted:
                return resource
        offered = ", ".join(normalize_site_url(r.get("url", "")) for r in resources)
        raise AuthError(f"Authorization failed: the login covers {offered} but not the configured site "
                        f"{wanted}: {LOGIN_AGAIN} and choose {wanted} on the consent screen, or set "
                        "CONFLUENCE_SITE_URL to one of the covered sites")
    if len(resources) == 1:
        return resources[0]
    say("The login covers several sites:")
    for number, resource in enumerate(resources, 1):
        say(f"  {number}. {resource.get('name', '')} {normalize_site_url(resource.get('url', ''))}")
    for _ in range(3):
        answer = ask(f"Which site should the pipeline sync? [1-{len(resources)}] ").strip()
        if answer.isdigit() and 1 <= int(answer) <= len(resources):
            return resources[int(answer) - 1]
        say(f"Please answer with a number from 1 to {len(resources)}.")
    raise AuthError("No site was chosen: set CONFLUENCE_SITE_URL to the site to sync and "
                    f"{LOGIN_AGAIN}")


class _CallbackServer:
    """A loopback HTTP server that waits for exactly one request to the callback path."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.path = path
        self.params: dict[str, str] | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                target = urlsplit(self.path)
                if target.path != outer.path:
                    self.send_error(404, "Not the login callback")
                    return
                outer.params = dict(parse_qsl(target.query, keep_blank_values=True))
                ok = "code" in outer.params and "error" not in outer.params
                text = _DONE_PAGE if ok else _FAILED_PAGE
                body = f"<!DOCTYPE html><html><body><p>{text}</p></body></html>".encode()
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # the query holds the code: no access log
                pass

        server_class = _IPv6Server if ":" in host else HTTPServer
        try:
            self._server = server_class((host.strip("[]"), port), Handler)
        except OSError as exc:
            raise AuthError(f"Cannot listen on {host}:{port} for the login callback ({exc.strerror}): stop "
                            "the program using that port, or choose another port in CONFLUENCE_REDIRECT_URI "
                            f"and register the same URL at {CONSOLE_URL}") from None

    def wait(self, timeout: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while self.params is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AuthError(f"No login redirect arrived within {timeout:.0f} s. If the browser showed "
                                "an error about the redirect or callback URL, make CONFLUENCE_REDIRECT_URI "
                                f"equal the callback URL registered at {CONSOLE_URL}; otherwise "
                                f"{LOGIN_AGAIN} and approve in the browser sooner")
            self._server.timeout = min(remaining, 1.0)
            self._server.handle_request()
        return self.params

    def __enter__(self) -> "_CallbackServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.server_close()


class _IPv6Server(HTTPServer):
    address_family = socket.AF_INET6
