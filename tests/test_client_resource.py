"""The Dagster resource: secrets through EnvVar, a real materialization, nothing secret in metadata."""

from __future__ import annotations

import json
import socket
import threading

import dagster as dg
import pytest
import requests

from confluence_pipeline.confluence.auth import OAuthApp
from confluence_pipeline.confluence.login import login
from confluence_pipeline.confluence.tokens import TokenStore
from confluence_pipeline.defs.resources import ConfluenceResource
from confluence_pipeline.emulator.app import Emulator

API_TOKEN = "resource-api-token-value"
CLIENT_SECRET = "resource-client-secret-value"


@pytest.fixture(scope="module")
def emu():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        redirect_uri = f"http://127.0.0.1:{sock.getsockname()[1]}/callback"
    emulator = Emulator(seed=3, scale=200, api_token=API_TOKEN, client_secret=CLIENT_SECRET,
                        redirect_uri=redirect_uri, auto_consent=True)
    emulator.start()
    yield emulator
    emulator.stop()


@dg.asset
def space_count(confluence: ConfluenceResource) -> dg.MaterializeResult:
    """Counts spaces, and reports the API calls it spent."""
    client = confluence.get_client()
    spaces = list(client.spaces())
    stats = client.stats()
    return dg.MaterializeResult(metadata={"spaces": len(spaces), "api_calls": stats["calls"],
                                          "api_points": stats["points"], "client": repr(client),
                                          "by_operation": dg.MetadataValue.json(stats["by_operation"])})


def _everything_recorded(instance: dg.DagsterInstance, result: dg.ExecuteInJobResult) -> str:
    run = instance.get_run_by_id(result.run_id)
    logs = [f"{entry.dagster_event or ''} {entry.user_message or ''}"
            for entry in instance.all_logs(result.run_id)]
    return json.dumps(run.run_config, default=str) + " ".join(logs)


def test_api_token_mode_materializes_and_keeps_the_token_out_of_everything(emu, monkeypatch):
    monkeypatch.setenv("CONFLUENCE_API_TOKEN", API_TOKEN)
    resource = ConfluenceResource(site_url=emu.base_url, email="admin@example.com",
                                  api_token=dg.EnvVar("CONFLUENCE_API_TOKEN"))
    with dg.instance_for_test() as instance:
        result = dg.materialize([space_count], resources={"confluence": resource}, instance=instance)
        assert result.success
        metadata = result.asset_materializations_for_node("space_count")[0].metadata
        assert metadata["spaces"].value == len(emu.ws.spaces) and metadata["api_calls"].value >= 1
        recorded = _everything_recorded(instance, result)
    assert API_TOKEN not in recorded and API_TOKEN not in repr(resource)
    with dg.build_resources({"confluence": resource}) as built:
        assert "***" in repr(built.confluence) and API_TOKEN not in repr(built.confluence)
        assert built.confluence.site() == emu.base_url


def test_oauth_mode_reads_the_token_store_and_hides_the_client_secret(emu, tmp_path, monkeypatch):
    app = OAuthApp("emulator-client", CLIENT_SECRET, redirect_uri=emu.credentials["redirect_uri"],
                   auth_url=emu.base_url, api_url=emu.base_url)

    def browser(url: str) -> None:
        def follow() -> None:
            location = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
            requests.get(location, timeout=10)
        threading.Thread(target=follow, daemon=True).start()

    tokens = login(app, TokenStore(tmp_path / "tokens.json"), browser=browser, timeout=20,
                   say=lambda line: None)
    monkeypatch.setenv("CONFLUENCE_CLIENT_SECRET", CLIENT_SECRET)
    resource = ConfluenceResource(mode="oauth", client_id="emulator-client",
                                  client_secret=dg.EnvVar("CONFLUENCE_CLIENT_SECRET"),
                                  token_file=str(tmp_path / "tokens.json"), auth_url=emu.base_url,
                                  api_url=emu.base_url)
    with dg.instance_for_test() as instance:
        result = dg.materialize([space_count], resources={"confluence": resource}, instance=instance)
        assert result.success
        recorded = _everything_recorded(instance, result)
        metadata = result.asset_materializations_for_node("space_count")[0].metadata
    assert f"/ex/confluence/{emu.cloud_id}" in metadata["client"].value
    with dg.build_resources({"confluence": resource}) as built:
        assert built.confluence.site() == tokens.site_url == emu.base_url
    for secret in (CLIENT_SECRET, tokens.access_token, tokens.refresh_token):
        assert secret not in recorded
