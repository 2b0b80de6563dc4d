"""Bad input from the network and from the user: each gives a clear error, or is skipped with the
reason recorded, and loses nothing else. Faults are injected through the emulator's control API
(`/__emulator__/faults`) and everything runs over real HTTP into a real lake."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests

from confluence_pipeline.cli import main as cli
from confluence_pipeline.confluence.client import ConfluenceClient
from confluence_pipeline.confluence.errors import ApiError, AuthError
from confluence_pipeline.confluence.ratelimit import RetryPolicy
from confluence_pipeline.emulator import mutations
from confluence_pipeline.emulator.app import DEFAULT_API_TOKEN, DEFAULT_EMAIL
from confluence_pipeline.settings import SettingsError, load_settings
from conftest import WINDOWED, assert_attachment_files, assert_equals_site


def faults(emu, **settings) -> None:
    response = requests.post(f"{emu.base_url}/__emulator__/faults", json=settings, timeout=10)
    assert response.status_code == 200, response.text


@pytest.fixture(autouse=True)
def _no_faults(emu):
    emu.limits.clear_faults()
    emu.limits.reset_stats()
    yield
    emu.limits.clear_faults()


def _client(emu, **kwargs) -> ConfluenceClient:
    return ConfluenceClient.with_api_token(emu.base_url, DEFAULT_EMAIL, DEFAULT_API_TOKEN,
                                           retry=RetryPolicy(max_outage=3.0, max_rate_limit_wait=30.0), **kwargs)


# -- answers spoiled on the way: retried, then explained -------------------------------------------

@pytest.mark.parametrize("kind,cause", [("malformed_json", "server_error"), ("truncated", "no_answer"),
                                        ("html_200", "server_error")])
def test_a_spoiled_answer_is_retried_and_the_sync_is_complete(pipeline, kind, cause):
    faults(pipeline.emu, bad_body=kind, bad_body_count=2, bad_body_operation="getPages")
    pipeline.max_outage_s = 60.0  # two spoiled answers in a row take two backoffs (2 s, then 4 s, jittered)
    results = pipeline.sync()
    assert all(r.success for r in results)
    assert pipeline.emu.limits.stats()["rejected"]["bad_body"] == 2
    metadata = results[1].asset_materializations_for_node("pages")[0].metadata
    assert metadata[f"api_retries_{cause}"].value == 2 and metadata["failures"].value == 0
    assert_equals_site(pipeline)


def test_answers_that_stay_unreadable_fail_with_the_cause_and_the_fix(emu):
    faults(emu, bad_body="html_200", bad_body_count=1000)
    with pytest.raises(ApiError) as err:
        list(_client(emu).spaces())
    message = str(err.value)
    assert "200 with an HTML page instead of JSON" in message and "past the outage budget of 3 s" in message
    assert "proxy" in message and "CONFLUENCE_SITE_URL" in message and "sync.max_outage" in message
    faults(emu, bad_body="malformed_json", bad_body_count=1000)
    with pytest.raises(ApiError, match=r"200 with a body that is not valid JSON \(application/json\)"):
        list(_client(emu).spaces())


def test_a_next_link_to_another_host_is_refused(emu):
    faults(emu, bad_body="foreign_next", bad_body_operation="getPages")
    client = _client(emu, page_size=10)
    with pytest.raises(ApiError) as err:
        list(client.pages())
    message = str(err.value)
    assert "next-page link to another host (elsewhere.example.net" in message and "not followed" in message
    assert emu.limits.stats()["rejected"]["bad_body"] == 1
    # only our own host was ever asked: one page, no request anywhere else (it would not resolve)
    assert client.stats()["by_operation"]["getPages"]["calls"] == 1


def test_an_invalid_timestamp_skips_that_object_records_why_and_keeps_the_rest(pipeline):
    assert all(r.success for r in pipeline.sync())
    watermark = pipeline.state("watermark:pages")
    with pipeline.warehouse() as wh:
        stored = wh.count("pages")
    faults(pipeline.emu, bad_body="invalid_timestamp", bad_body_operation="getPages")
    result = pipeline.materialize(WINDOWED)
    assert result.success
    failures = pipeline.state("failures:pages")
    assert len(failures) == 1 and "getPages: object" in failures[0]
    assert "skipped, its " in failures[0] and "createdAt is invalid ('last Tuesday, around noon')" in failures[0]
    assert pipeline.state("watermark:pages") == watermark  # held: the next run lists it again
    with pipeline.warehouse() as wh:
        assert wh.count("pages") == stored  # the first sync's copy of it stays; nothing else is lost
    assert all(r.success for r in pipeline.sync())
    assert pipeline.state("failures:pages") == []
    assert_equals_site(pipeline)


def test_an_attachment_named_with_dot_dot_is_stored_by_id_and_nothing_escapes(pipeline):
    ws = pipeline.emu.ws
    page = next(c for c in ws.content.values() if c.type == "page" and c.status == "current")
    hostile = mutations.create(ws, type="attachment", title="../../../escaped.txt", container_id=page.id,
                               data=b"plain text that must stay inside the data directory\n")
    assert all(r.success for r in pipeline.sync())
    assert_attachment_files(pipeline)  # every file under data/attachments/<id>, bytes as on the site
    with pipeline.warehouse() as wh:
        assert wh.run("SELECT title FROM attachments WHERE id = ?", [hostile.id]) == [("../../../escaped.txt",)]
    assert not list(pipeline.data_dir.parent.parent.rglob("escaped.txt"))
    assert_equals_site(pipeline)


def test_unknown_fault_kinds_are_refused_by_the_control_api(emu):
    response = requests.post(f"{emu.base_url}/__emulator__/faults", json={"bad_body": "gremlins"}, timeout=10)
    assert response.status_code == 400 and "bad_body must be one of malformed_json" in response.text


# -- adaptive concurrency ---------------------------------------------------------------------------

def test_429s_slow_all_threads_down_together_and_concurrency_recovers(emu):
    client = ConfluenceClient.with_api_token(emu.base_url, DEFAULT_EMAIL, DEFAULT_API_TOKEN, page_size=5,
                                             pool_size=8)
    spaces = [s.id for s in client.spaces()]
    expected = {s: sorted(p.id for p in client.pages(space_ids=[s])) for s in spaces}
    client.reset_stats()
    emu.limits.reset_stats()
    faults(emu, storm_429=12, storm_retry_after=1)
    listed: dict[str, list[str]] = {}

    def list_space(space_id: str) -> None:
        listed[space_id] = sorted(p.id for p in client.pages(space_ids=[space_id]))

    def list_all_spaces_at_once() -> None:
        threads = [threading.Thread(target=list_space, args=(s,)) for s in spaces]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    list_all_spaces_at_once()
    assert listed == expected  # nothing lost
    stats = client.stats()
    assert emu.limits.stats()["rejected"]["429"] == stats["retries_by_cause"]["rate_limited"] == 12
    assert stats["concurrency_lowest"] <= 2  # halved on the first 429s of the storm
    assert stats["waited_rate_limit_seconds"] >= 1.0
    list_all_spaces_at_once()  # the storm is over
    assert listed == expected
    assert client.stats()["concurrency_limit"] == 8  # back up once answers came through again


# -- settings and the site URL ----------------------------------------------------------------------

def test_a_site_url_with_wiki_is_refused_with_the_fix(emu, tmp_path):
    with pytest.raises(SettingsError) as err:
        load_settings(env={
            "CONFLUENCE_SITE_URL": "https://acme.atlassian.net/wiki", "CONFLUENCE_EMAIL": "a@b.c",
            "CONFLUENCE_API_TOKEN": "t0ken", "CONFLUENCE_SETTINGS": str(_empty(tmp_path))})
    message = str(err.value)
    assert "auth.site_url" in message and "drop /wiki from it" in message and "'https://acme.atlassian.net'" in message
    assert "skipped" not in message and "t0ken" not in message
    with pytest.raises(AuthError, match="drop /wiki from it"):
        ConfluenceClient.with_api_token(f"{emu.base_url}/wiki/", DEFAULT_EMAIL, DEFAULT_API_TOKEN)


@pytest.mark.parametrize("field,value,expected", [
    ("max_outage", 0, "sync.max_outage: Value error, must be a number of seconds between 0 and 86400"),
    ("max_rate_limit_wait", "ten minutes", "sync.max_rate_limit_wait: Input should be a valid number"),
])
def test_retry_budgets_are_validated_with_the_field_named(tmp_path, field, value, expected):
    settings = tmp_path / "confluence.yaml"
    settings.write_text(f"sync:\n  {field}: {value!r}\n" if isinstance(value, str) else f"sync:\n  {field}: {value}\n")
    with pytest.raises(SettingsError, match=expected):
        load_settings(settings, env={})
    settings.write_text("sync:\n  max_outage: 90\n  max_rate_limit_wait: 1200\n")
    loaded = load_settings(settings, env={}).sync
    assert (loaded.max_outage, loaded.max_rate_limit_wait) == (90, 1200)


def _empty(folder: Path) -> Path:
    file = folder / "confluence.yaml"
    file.write_text("{}\n")
    return file


# -- query: sandboxed to the lake unless asked -------------------------------------------------------

def test_query_is_sandboxed_to_the_lake_unless_allowed(pipeline, tmp_path, capsys):
    assert pipeline.materialize(["spaces"]).success
    assert cli(["query", "SELECT count(*) AS n FROM spaces"]) == 0
    assert str(len(pipeline.emu.ws.spaces)) in capsys.readouterr().out  # ordinary reads work
    target = tmp_path / "out.csv"
    refused = {
        f"COPY (SELECT * FROM spaces) TO '{target}'": "runs only SELECT / EXPLAIN, not COPY",
        "SELECT * FROM read_csv('/etc/passwd')": 'Cannot access file "/etc/passwd"',
        "INSTALL httpfs": "runs only SELECT / EXPLAIN, not LOAD",
        "SELECT 1; SET enable_external_access = true": "not SET",
        f"SELECT * FROM read_parquet('{tmp_path}/*.parquet')": "Cannot access file",
    }
    for sql, reason in refused.items():
        with pytest.raises(SystemExit) as err:
            cli(["query", sql])
        message = str(err.value)
        assert reason in message and "--allow-external" in message, (sql, message)
        assert "\n" not in message.strip()
    assert not target.exists()

    assert cli(["query", f"COPY (SELECT key FROM spaces) TO '{target}'", "--allow-external"]) == 0
    assert target.exists() and target.read_text().startswith("key")
    assert cli(["query", "SELECT count(*) FROM read_csv('/etc/passwd', header=false, sep='\\x01')",
                "--allow-external"]) == 0
