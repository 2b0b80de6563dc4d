"""The emulator's HTTP layer: one WSGI app that plays Atlassian's auth server, the API gateway
and a Confluence Cloud site on a single local port.

    /authorize, /authorize/consent, /oauth/token           auth.atlassian.com
    /oauth/token/accessible-resources, /me                  api.atlassian.com
    /ex/confluence/{cloudId}/wiki/api/v2/...                gateway, OAuth bearer tokens
    /ex/confluence/{cloudId}/wiki/rest/api/...
    /wiki/api/v2/..., /wiki/rest/api/..., /wiki/download/   the site, basic auth (email + API token)
    /__emulator__/...                                       the emulator's own control API

Handlers live in the packages api_v2/ and api_v1/ and register themselves in routes.ROUTES; this module
only parses, authenticates, limits, dispatches and renders.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
import uuid
from datetime import datetime
from typing import Any, Iterable

import orjson
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from . import admin, api_v1, api_v2  # noqa: F401  (importing registers the routes)
from .generate import generate_workspace
from .http import (ApiError, BadRequest, Ctx, MethodNotAllowed, NotFound, OAuthError, Reply,
                   Unauthorized, epoch_ms, render_error)
from .limits import Limits, LimitsConfig
from .model import Clock, User
from .workspace import Workspace
from .oauth import AuthServer
from .oauth_grants import OAuthClient
from .routes import ROUTES, Route
from .scopes import check_scopes
from .server import CONNECTION_CLOSED, EmulatorServer

log = logging.getLogger(__name__)

DEFAULT_CLIENT_ID = "emulator-client"
DEFAULT_CLIENT_SECRET = "emulator-secret"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8976/callback"
DEFAULT_EMAIL = "admin@example.com"
DEFAULT_API_TOKEN = "emulator-api-token"

V2_PREFIX = "/wiki/api/v2"
GATEWAY_PREFIX = "/ex/confluence/"
ADMIN_PREFIX = "/__emulator__"
# Routes Confluence serves that Atlassian's current specs do not describe (v1 reads removed from
# the spec, 410 through the gateway, and the file bytes behind the download redirect): no scopes
# to enforce.
OUTSIDE_SPEC = frozenset({"getContent", "getContentById", "getSpaces", "getContentComments", "getAttachments",
                          "downloadAttachmentBytes"})
UNAUTHENTICATED = frozenset({"downloadAttachmentBytes"})
UNROUTED = "(no such endpoint)"  # the stats' name for requests that matched no route


class _Truncated(Exception):
    """Send the response's headers and half its body, then close the connection."""

    def __init__(self, response: Response) -> None:
        super().__init__("truncated")
        self.response = response
        self.data = response.get_data()


PROXY_PAGE = ("<!DOCTYPE html><html><head><title>Sign in - Corporate Proxy</title></head><body><h1>Your session "
              "has expired</h1><p>Sign in to continue to the internet.</p></body></html>")
FOREIGN_HOST = "https://elsewhere.example.net"


def _spoilable(kind: str, reply: Reply) -> bool:
    """Whether this answer can carry the fault `kind` (limits.BAD_BODIES)."""
    if not isinstance(reply.body, dict) or reply.status >= 400:
        return False
    if kind == "foreign_next":
        return isinstance(reply.body.get("_links"), dict) and "next" in reply.body["_links"]
    if kind == "invalid_timestamp":
        return bool(reply.body.get("results"))
    return True


def _spoil(kind: str, response: Response) -> Response:
    """The response as the fault `kind` spoils it."""
    if kind == "truncated":
        raise _Truncated(response)
    if kind == "html_200":
        return Response(PROXY_PAGE, status=200, content_type="text/html; charset=utf-8")
    data = response.get_data()
    if kind == "malformed_json":
        response.set_data(data[:-1] + b',"')
        return response
    body = orjson.loads(data)
    if kind == "foreign_next":
        nxt = body["_links"]["next"]
        foreign = FOREIGN_HOST + (nxt if nxt.startswith("/") else "/" + nxt)
        body["_links"]["next"] = foreign
        if "Link" in response.headers:
            response.headers["Link"] = response.headers["Link"].replace(f"<{nxt}>", f"<{foreign}>")
    elif kind == "invalid_timestamp":  # the first object only: the rest of the page is fine
        first = body["results"][0]
        for holder in (first, first.get("version") if isinstance(first.get("version"), dict) else None):
            if holder is not None:
                for key in ("createdAt", "when"):
                    if key in holder:
                        holder[key] = "last Tuesday, around noon"
    response.set_data(orjson.dumps(body))
    return response


class _DropConnection(Exception):
    """Raised to close the client's connection without any response (fault injection)."""


def _build_map(api: str) -> Map:
    rules = [Rule(r.path, endpoint=r, methods=[r.method]) for r in ROUTES if r.api == api]
    return Map(rules, strict_slashes=False, merge_slashes=False)


class Emulator:
    """A Confluence Cloud site, its API gateway and Atlassian's OAuth server, in-process.

    `start()` serves it on a free local port in a background thread; `wsgi_app` and
    `test_client()` use it without a socket. `ws` is the site's state; `auth` the OAuth server;
    `limits` the rate limits, faults and request statistics.
    """

    def __init__(self, ws: Workspace | None = None, *, seed: int = 42, scale: int = 200,
                 client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET,
                 redirect_uri: str = DEFAULT_REDIRECT_URI, email: str = DEFAULT_EMAIL,
                 api_token: str = DEFAULT_API_TOKEN, auto_consent: bool = False,
                 access_token_ttl: int = 3600, limits: LimitsConfig | None = None,
                 anchor: datetime | None = None) -> None:
        if ws is None:
            # `anchor` is the generated history's "now"; the site's clock then runs in real time.
            ws = generate_workspace(seed, scale, admin_email=email, now=anchor)
            ws.clock = Clock()
        self.ws = ws
        self.auth = AuthServer(self.ws, OAuthClient(client_id, client_secret, redirect_uri),
                               auto_consent=auto_consent, access_token_ttl=access_token_ttl)
        self.limits = Limits(self.ws, limits or LimitsConfig())
        self.api_tokens: dict[str, str] = {email.lower(): api_token}
        self.credentials = {"client_id": client_id, "client_secret": client_secret,
                            "redirect_uri": redirect_uri, "email": email, "api_token": api_token}
        self._maps = {"v2": _build_map("v2"), "v1": _build_map("v1")}
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ------------------------------------------------------------------------
    @property
    def cloud_id(self) -> str:
        return self.ws.site.cloud_id

    @property
    def base_url(self) -> str:
        return self.ws.site.url

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0: a free port) in a daemon thread; returns the base URL."""
        self._server = EmulatorServer(host, port, self.wsgi_app)
        self.ws.site.url = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="confluence-emulator", daemon=True)
        self._thread.start()
        return self.ws.site.url

    def serve_forever(self, host: str = "127.0.0.1", port: int = 8765) -> None:
        self._server = EmulatorServer(host, port, self.wsgi_app)
        self.ws.site.url = f"http://{host}:{self._server.server_port}"
        self._server.serve_forever()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "Emulator":
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def test_client(self) -> Client:
        return Client(self.wsgi_app)

    # -- WSGI ------------------------------------------------------------------------------
    def wsgi_app(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except _Truncated as cut:  # the headers promise the whole body; half of it comes, then nothing
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                head = (f"HTTP/1.1 200 OK\r\nContent-Type: {cut.response.content_type}\r\n"
                        f"Content-Length: {len(cut.data)}\r\nConnection: close\r\n\r\n").encode()
                try:
                    sock.sendall(head + cut.data[:len(cut.data) // 2])
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            environ[CONNECTION_CLOSED] = True
            response = Response(b"", status=500)
        except _DropConnection:
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            environ[CONNECTION_CLOSED] = True
            response = Response(b"", status=500)
        except Exception:  # the server survives anything; the client sees Confluence's 500 shape
            log.exception("emulator: unhandled error on %s %s", request.method, request.path)
            response = self._json(500, {"errors": [{"status": 500, "code": "INTERNAL_SERVER_ERROR",
                                                    "title": "Internal Server Error", "detail": None}]})
        response.headers.setdefault("atl-traceid", uuid.uuid4().hex)
        response.headers.setdefault("x-confluence-request-time", str(epoch_ms(self.ws.clock.now())))
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith(ADMIN_PREFIX + "/"):
            return admin.handle(self, request, path[len(ADMIN_PREFIX):])
        if path in ("/authorize", "/authorize/consent", "/oauth/token", "/oauth/token/accessible-resources", "/me"):
            return self._auth_endpoint(request, path)
        if path.startswith(GATEWAY_PREFIX):
            cloud_id, _, rest = path[len(GATEWAY_PREFIX):].partition("/")
            return self._api(request, "/" + rest, gateway_cloud_id=cloud_id)
        if path.startswith("/wiki/"):
            return self._api(request, path, gateway_cloud_id=None)
        self.limits.count_received(UNROUTED, 404)
        return self._json(404, {"errors": [{"status": 404, "code": "NOT_FOUND", "title": "Not Found",
                                            "detail": f"No such endpoint: {path}"}]})

    # -- the auth server -------------------------------------------------------------------
    def _auth_endpoint(self, request: Request, path: str) -> Response:
        try:
            if path == "/authorize" and request.method == "GET":
                status, headers, html = self.auth.authorize(request.args.to_dict())
                return Response(html, status=status, headers=headers, content_type="text/html; charset=utf-8")
            if path == "/authorize/consent" and request.method == "POST":
                status, headers, html = self.auth.consent(request.form.to_dict())
                return Response(html, status=status, headers=headers, content_type="text/html; charset=utf-8")
            if path == "/oauth/token" and request.method == "POST":
                body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
                if not isinstance(body, dict):
                    raise OAuthError(400, "invalid_request", "The request body must be a JSON object or a form.")
                return self._json(200, self.auth.token(body), cache=False)
            if path == "/oauth/token/accessible-resources" and request.method == "GET":
                resources = self.auth.accessible_resources(_bearer(request))
                return self._json(200, resources, content_type="application/json; charset=utf-8")
            if path == "/me" and request.method == "GET":
                grant = self.auth.authenticate(_bearer(request))
                user = self.ws.users[grant.account_id]
                return self._json(200, {"account_id": user.account_id, "email": user.email, "name": user.display_name,
                                        "nickname": user.public_name, "account_type": user.account_type,
                                        "account_status": user.account_status})
            raise MethodNotAllowed(f"{request.method} is not allowed on {path}")
        except OAuthError as err:
            return self._error(err, "oauth")
        except ApiError as err:
            return self._error(err, "gateway")

    # -- the API ---------------------------------------------------------------------------
    def _api(self, request: Request, path: str, *, gateway_cloud_id: str | None) -> Response:
        """Serve one API request and count it, whatever its answer (stats: `received`)."""
        matched: list[str] = []
        response = self._api_call(request, path, gateway_cloud_id, matched)
        self.limits.count_received(matched[0] if matched else UNROUTED, response.status_code)
        return response

    def _api_call(self, request: Request, path: str, gateway_cloud_id: str | None, matched: list[str]) -> Response:
        if path.startswith(V2_PREFIX + "/") or path == V2_PREFIX:
            api, sub = "v2", path[len(V2_PREFIX):] or "/"
        else:
            api, sub = "v1", path
        family = "gateway" if gateway_cloud_id is not None else api
        try:
            try:
                rule, args = self._maps[api].bind("emulator").match(sub, method=request.method)
            except HTTPException as exc:
                if exc.code == 405:
                    raise MethodNotAllowed(f"{request.method} is not supported on {path}") from None
                raise NotFound(f"No such endpoint: {path}") from None
            matched.append(rule.operation_id)
            oauth = gateway_cloud_id is not None
            # The signed download URL carries its own token (see api_v1): no other credential.
            user = None if rule.operation_id in UNAUTHENTICATED else self._authenticate(request, rule, gateway_cloud_id)
            family = api  # from here on, errors come from Confluence itself
            if self.limits.should_drop():
                raise _DropConnection()
            delay = self.limits.latency_s()
            if delay:
                time.sleep(delay)
            extra_headers = self.limits.before(rule.operation_id, oauth=oauth)
            ctx = Ctx(ws=self.ws, user=user, method=request.method, path=sub, params=request.args,
                      body=_json_body(request), api=api, site_base=self.ws.site.url + "/wiki",
                      operation_id=rule.operation_id, gateway=oauth)
            with self.ws.lock:
                reply = rule.handler(ctx, **args)
            self.limits.after(rule.operation_id, reply.points, oauth=oauth)
            reply.headers = {**extra_headers, **reply.headers}
            response = self._reply(reply, api, ctx.site_base, rule.operation_id)
            kind = self.limits.take_bad_body(rule.operation_id, lambda k: _spoilable(k, reply))
            return _spoil(kind, response) if kind else response
        except ApiError as err:
            return self._error(err, family, site_base=self.ws.site.url + "/wiki" if api == "v2" else None)

    def _authenticate(self, request: Request, route: Route, gateway_cloud_id: str | None) -> User | None:
        if gateway_cloud_id is not None:
            grant = self.auth.authenticate(_bearer(request), cloud_id=gateway_cloud_id)
            if route.operation_id not in OUTSIDE_SPEC:
                check_scopes(route.api, route.operation_id, grant.scopes)
            return self.ws.users.get(grant.account_id)
        auth = request.authorization
        if auth is None:
            if request.headers.get("Authorization", "").lower().startswith("bearer"):
                raise Unauthorized("OAuth 2.0 tokens are accepted only through api.atlassian.com/ex/confluence/{cloudId}")
            return None  # anonymous: sees what anonymous access allows
        if auth.type != "basic":
            raise Unauthorized("Unsupported authorization scheme")
        email = (auth.username or "").lower()
        token = self.api_tokens.get(email)
        if token is None or not secrets.compare_digest(token, auth.password or ""):
            raise _BasicAuthFailed()
        user = self.ws.user_by_email(email)
        if user is None:
            raise _BasicAuthFailed()
        return user

    # -- rendering -------------------------------------------------------------------------
    def _reply(self, reply: Reply, api: str, site_base: str, operation_id: str) -> Response:
        headers = dict(reply.headers)
        if callable(reply.body) or isinstance(reply.body, (bytes, bytearray)):  # a function: outside the lock
            body = reply.body() if callable(reply.body) else reply.body
            return Response(bytes(body), status=reply.status, headers=headers, content_type=reply.content_type)
        if api == "v2":
            base_link = f'<{site_base}>; rel="base"'
            headers["Link"] = headers["Link"] if "Link" in headers else base_link
            if "InlineComment" in operation_id:
                headers["Link"] = f'<https://developer.atlassian.com/cloud/confluence/changelog/#CHANGE-1411>; rel="deprecation", {headers["Link"]}'
                headers["Warning"] = ('299 - "Deprecated Fields: inline-marker-ref and inline-original-selection are '
                                      'deprecated, use inlineMarkerRef and inlineOriginalSelection instead."')
        if reply.body is None:
            return Response(b"", status=reply.status, headers=headers)
        return self._json(reply.status, reply.body, headers=headers, content_type=reply.content_type)

    def _error(self, err: ApiError, family: str, *, site_base: str | None = None) -> Response:
        if isinstance(err, _BasicAuthFailed):
            return Response("Basic authentication with passwords is deprecated.  For more information, see: "
                            "https://developer.atlassian.com/cloud/confluence/deprecation-notice-basic-auth/",
                            status=401, content_type="text/plain")
        status, headers, body = render_error(err, family)
        if family == "v2" and site_base:
            headers.setdefault("Link", f'<{site_base}>; rel="base"')
        return self._json(status, body, headers=headers)

    @staticmethod
    def _json(status: int, body: Any, *, headers: dict[str, str] | None = None,
              content_type: str = "application/json", cache: bool = True) -> Response:
        data = orjson.dumps(body)  # 250 expanded items make ~1 MB: orjson is 3-5x faster than json
        response = Response(data, status=status, headers=headers or {}, content_type=content_type)
        if not cache:
            response.headers["Cache-Control"] = "no-store"
        return response


class _BasicAuthFailed(Unauthorized):
    """Wrong email or API token on the site host: Confluence answers in plain text."""


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def _json_body(request: Request) -> Any:
    if request.method not in ("POST", "PUT") or not request.data:
        return None
    try:
        return orjson.loads(request.data)
    except ValueError:
        raise BadRequest("The request body is not valid JSON") from None
