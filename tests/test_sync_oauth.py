"""A sync under OAuth 2.0 whose access tokens expire again and again mid-run: the client renews them
with rotating refresh tokens, every step completes, and the tables equal the site."""

from __future__ import annotations

import socket
import threading

import dagster as dg
import pytest
import requests
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from confluence_pipeline.confluence.auth import OAuthApp
from confluence_pipeline.confluence.login import login
from confluence_pipeline.confluence.tokens import TokenStore
from confluence_pipeline.defs.resources import ConfluenceResource
from confluence_pipeline.emulator.app import Emulator
from conftest import ANCHOR, QUIET, WINDOWED, assert_equals_site, make_pipeline


@pytest.fixture(scope="module")
def emu():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        redirect_uri = f"http://127.0.0.1:{sock.getsockname()[1]}/callback"
    emulator = Emulator(seed=9, scale=120, anchor=ANCHOR, redirect_uri=redirect_uri, auto_consent=True)
    emulator.start()
    yield emulator
    emulator.stop()


def test_access_tokens_expiring_every_second_mid_sync_are_renewed_and_nothing_is_lost(emu, tmp_path, monkeypatch):
    pipeline = make_pipeline(emu, tmp_path, monkeypatch)
    app = OAuthApp(emu.credentials["client_id"], emu.credentials["client_secret"],
                   redirect_uri=emu.credentials["redirect_uri"], auth_url=emu.base_url, api_url=emu.base_url)

    def browser(url: str) -> None:
        def follow() -> None:
            location = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
            requests.get(location, timeout=10)
        threading.Thread(target=follow, daemon=True).start()

    store = TokenStore(tmp_path / "tokens.json")
    first = login(app, store, browser=browser, timeout=20, say=lambda line: None)
    monkeypatch.setenv("CONFLUENCE_CLIENT_SECRET", emu.credentials["client_secret"])
    resources = {**pipeline.resources(), "confluence": ConfluenceResource(
        mode="oauth", client_id=emu.credentials["client_id"], client_secret=dg.EnvVar("CONFLUENCE_CLIENT_SECRET"),
        token_file=str(store.path), auth_url=emu.base_url, api_url=emu.base_url)}
    assets, _ = pipeline.definitions()

    done = threading.Event()
    expired: list[int] = []

    def expire() -> None:
        while not done.wait(1.0):
            expired.append(emu.auth.expire_all_access_tokens())

    expirer = threading.Thread(target=expire, daemon=True)
    expirer.start()
    try:
        results = [dg.materialize(assets, instance=dg.DagsterInstance.ephemeral(), resources=resources,
                                  selection=["spaces"], run_config=QUIET),
                   dg.materialize(assets, instance=dg.DagsterInstance.ephemeral(), resources=resources,
                                  selection=list(WINDOWED), run_config=QUIET,
                                  tags={ASSET_PARTITION_RANGE_START_TAG: pipeline.settings.sync.start_date.isoformat(),
                                        ASSET_PARTITION_RANGE_END_TAG: pipeline.today()})]
    finally:
        done.set()
        expirer.join()

    assert all(result.success for result in results)
    renewals = sum(m.metadata["api_token_renewals"].value for result in results
                   for step in ("spaces", *WINDOWED) for m in result.asset_materializations_for_node(step)[:1])
    assert sum(expired) >= 2 and renewals >= 2, (expired, renewals)
    assert store.load().refresh_token != first.refresh_token  # rotated, and the rotation was saved
    assert_equals_site(pipeline)
