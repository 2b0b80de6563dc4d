"""What a failed call means: the error from `errors.py` for an HTTP answer, a lost connection or a
spent retry budget, each message naming the cause and the fix.

The transport decides *whether* to retry; this module only words the outcome. 401 and 403 get
the most context (scopes, an expired grant, the API token, operations where a 403 means
something specific), other statuses come from `STATUS_ERRORS`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

from .auth import REQUIRED_SCOPES, OAuthTokenAuth
from .errors import (LOGIN_AGAIN, ApiError, AuthError, ConfluenceError, NotFound, PermissionDenied,
                     RateLimited, ReauthorizeRequired, SiteUnreachable, redact_url)
from .ratelimit import RetryPolicy

API_TOKENS_URL = "https://id.atlassian.com/manage-profile/security/api-tokens"
STATUS_PAGE = "https://status.atlassian.com"

NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)

# Hints for a 403 on operations where it means something specific.
FORBIDDEN_HINTS = {
    "getAuditRecords": "the audit log needs the Confluence Administrator permission and a paid plan; "
                       "the rest of the sync can go on without it",
    "getGroups": "listing groups needs permission to browse users on this site",
    "getGroupMembersByGroupId": "listing group members needs permission to browse users on this site",
}

# What a failed request means, by status (401 and 403 are answered in `error_for`, with more context).
STATUS_ERRORS: dict[int, tuple[type[ApiError], str]] = {
    400: (ApiError, "Confluence rejected {what} as invalid ({said}): check the filters passed to it (ids, "
                    "CQL, dates); if they are right, please report it"),
    404: (NotFound, "{what} was not found ({said}): it was deleted, or the account cannot see it (Confluence "
                    "answers 404 for both); it is skipped"),
    410: (ApiError, "Confluence has removed {what} ({said}): this client needs an update to use its v2 "
                    "replacement; please report it"),
    429: (RateLimited, "Confluence rate-limited {what} ({said}): wait for the limit to reset and run again"),
}
OTHER_ERROR = (ApiError, "Confluence answered {what} with {said}: retry later, and report it if it persists")


def detail(response: requests.Response) -> str:
    """The service's own message, from any of Confluence's error shapes."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            return str(first.get("detail") or first.get("title") or first.get("code") or "")
        for key in ("message", "error_description", "error"):
            if body.get(key):
                return str(body[key])
    return ""


def not_json(response: requests.Response) -> str:
    """What a 2xx answer that is not JSON looked like, for the error."""
    kind = response.headers.get("Content-Type", "no content type").split(";")[0].strip()
    what = "an HTML page" if "html" in kind else f"a body that is not valid JSON ({kind})"
    return f"{response.status_code} with {what} instead of JSON"


def network_reason(exc: BaseException) -> str:
    """The operating system's words for a failed connection ("Connection refused"), else the error's type."""
    todo: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        todo += [getattr(current, "reason", None), current.__cause__, current.__context__]
        todo += [arg for arg in current.args if isinstance(arg, BaseException)]
    return type(exc).__name__


def scope_mismatch(response: requests.Response) -> bool:
    """Did the gateway reject the request for a scope the login lacks (not for the token itself)?"""
    return (response.headers.get("X-Failure-Category") == "FAILURE_CLIENT_SCOPE_CHECK"
            or "scope does not match" in detail(response).lower())


def error_for(name: str, response: requests.Response, auth: AuthBase) -> ConfluenceError:
    """The error for a failed answer that is not retried (or not any more)."""
    status = response.status_code
    said_detail = detail(response)
    url = response.url
    what = f"{name} {urlsplit(redact_url(url) or '').path}"
    said = f"{status} {said_detail}".strip()
    common = {"status": status, "url": url, "detail": said_detail}
    if status == 401:
        return _unauthorized(name, response, said, common, auth)
    if status == 403:
        hint = FORBIDDEN_HINTS.get(name, "grant the account read access to it (space permission or "
                                         "page restriction) to include it; it is skipped")
        return PermissionDenied(f"The account may not read {what} ({said}): {hint}", **common)
    error, message = STATUS_ERRORS.get(status, OTHER_ERROR)
    return error(message.format(what=what, said=said), **common)


def _unauthorized(name: str, response: requests.Response, said: str, common: dict[str, Any],
                  auth: AuthBase) -> ConfluenceError:
    if scope_mismatch(response) and isinstance(auth, OAuthTokenAuth):
        granted = set(auth.tokens().scopes)
        missing = tuple(s for s in REQUIRED_SCOPES if s not in granted)
        listed = " ".join(missing) or "none of REQUIRED_SCOPES (the operation needs one more)"
        return AuthError(f"The login lacks a scope that {name} needs ({said}). Missing: {listed}. Add "
                         "them on the app's Permissions page in the Atlassian developer console, then "
                         f"{LOGIN_AGAIN}", missing_scopes=missing, **common)
    if isinstance(auth, OAuthTokenAuth):
        return ReauthorizeRequired(f"The gateway still rejects the access token after a refresh "
                                   f"({said}): the app's access was revoked or the site left the "
                                   f"grant; {LOGIN_AGAIN}", **common)
    return AuthError(f"The site rejected the email and API token ({said}): check CONFLUENCE_EMAIL and "
                     f"CONFLUENCE_API_TOKEN (create a token at {API_TOKENS_URL}) and that "
                     "CONFLUENCE_SITE_URL is the site that account belongs to", **common)


def unreachable(name: str, url: str, exc: Exception) -> SiteUnreachable:
    """A request that is not safe to repeat lost its connection: not retried."""
    return SiteUnreachable(f"Could not reach {urlsplit(url).netloc} for {name} ({network_reason(exc)}); "
                           "it changes data, so it is not retried: check the network and any proxy, then "
                           "run again", url=url, detail=network_reason(exc))


def exhausted(name: str, url: str, status: int | None, cause: str, tries: int, spent: float, delay: float,
              retry: RetryPolicy) -> ConfluenceError:
    """The error once a retried call has spent its budget: `status` of the last try (None: no answer)."""
    common = {"status": status, "url": url, "detail": cause}
    tried = f"{tries} tr{'y' if tries == 1 else 'ies'}"
    if status == 429:
        budget = retry.max_rate_limit_wait
        asks = f"; it now asks to wait {delay:.0f} s more" if spent + delay > budget else ""
        return RateLimited(f"Confluence kept rate-limiting {name} (429): waited {spent:.0f} s over {tried}"
                           f"{asks}, past the rate-limit budget of {budget:.0f} s. Raise "
                           "sync.max_rate_limit_wait in confluence.yaml to wait longer, or run again after "
                           "the reset, spread syncs across the hour, or lower other traffic on the app",
                           **common)
    budget = retry.max_outage
    spell = (f"for {spent:.0f} s over {tried}, past the outage budget of {budget:.0f} s (raise "
             "sync.max_outage in confluence.yaml to ride through longer outages)")
    if status is None:
        return SiteUnreachable(f"Could not reach {urlsplit(url).netloc} for {name} ({cause}) {spell}: "
                               "check the site URL (CONFLUENCE_SITE_URL, or CONFLUENCE_API_URL under OAuth), "
                               f"the network and any proxy, and {STATUS_PAGE}; then run again", **common)
    if status < 400:
        return ApiError(f"Confluence's answers to {name} kept being unreadable ({cause}) {spell}: a "
                        "proxy or firewall between this client and Confluence may be answering in its place; "
                        "check CONFLUENCE_SITE_URL and any proxy, then run again", **common)
    return ApiError(f"Confluence kept failing {name} ({cause}) {spell}: Atlassian may be having an "
                    f"incident ({STATUS_PAGE}); run again later", **common)
