"""The emulator's HTTP server (emulator/server.py) keeps a connection open from call to call, as
Confluence Cloud does, and closes what it kept when it stops."""

from __future__ import annotations

import base64
import http.client
import json
from typing import Iterator
from urllib.parse import urlsplit

import pytest

from confluence_pipeline.emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL, Emulator

BASIC = base64.b64encode(f"{DEFAULT_EMAIL}:{DEFAULT_API_TOKEN}".encode()).decode()
AUTH = {"Authorization": f"Basic {BASIC}"}
SPACES = "/wiki/api/v2/spaces?limit=1"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(seed=5, scale=50) as emulator:
        yield emulator


def connect(emu: Emulator) -> http.client.HTTPConnection:
    url = urlsplit(emu.base_url)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=10)


def call(con: http.client.HTTPConnection, body: bytes | None = None) -> http.client.HTTPResponse:
    con.request("GET", SPACES, body=body, headers={**AUTH, "Content-Type": "application/json"})
    response = con.getresponse()
    assert response.status == 200 and json.loads(response.read())["results"]
    return response


def test_one_connection_carries_every_call_even_after_a_request_body_nobody_read(emu):
    con = connect(emu)
    first = call(con)
    assert not first.will_close and first.getheader("Connection") is None
    sock = con.sock
    call(con, body=b'{"unread": "' + b"x" * 50_000 + b'"}')  # an operation that takes no body
    for _ in range(3):
        assert not call(con).will_close
    assert con.sock is sock  # the same TCP connection throughout


def test_a_stopped_emulator_closes_the_connections_it_kept_open(emu):
    con = connect(emu)
    call(con)
    emu.stop()
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        call(con)
