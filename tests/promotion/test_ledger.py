"""Promotion ledger on a local directory and on S3 (a moto server on 127.0.0.1), and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import typer
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner

from llm_platform.artifact_store import LocalDirStore, ObjectStore, S3Store
from llm_platform.cli import history_cmd
from llm_platform.promotion import AliasTarget, Ledger, LedgerError, LedgerEvent
from llm_platform.targets.local.processes import free_port

BUCKET = "ledger-test"
D1, D2, D3 = "a1" * 32, "b2" * 32, "c3" * 32
T0 = datetime(2026, 11, 28, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _s3_client(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalDirStore(tmp_path / "store")
    client = _s3_client(request.getfixturevalue("moto_endpoint"))
    bucket = f"{BUCKET}-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=bucket)
    return S3Store(client, bucket, "artifacts")


def event(kind: str, *, env: str = "production", minutes: int = 0, **kw: object) -> LedgerEvent:
    data: dict[str, object] = dict(
        kind=kind,
        model="llama",
        env=env,
        version="1.0.0",
        digest=D1,
        time=T0 + timedelta(minutes=minutes),
    )
    data.update(kw)
    return LedgerEvent.model_validate(data)


def test_history_round_trip_newest_first(store: ObjectStore) -> None:
    ledger = Ledger(store)
    recorded = [
        ledger.record(event("deployed", env="staging", minutes=0, evidence={"passed": True})),
        ledger.record(event("refused", minutes=1, reason="no approval", evidence={"slo": "pass"})),
        ledger.record(event("promoted", minutes=2, approver="alice", run_id="r-1")),
        ledger.record(event("check_failed", minutes=3, reason="p95 2400ms > 2000ms")),
        ledger.record(event("rolled_back", minutes=4, actor="rollback_sensor")),
    ]
    ledger.record(event("promoted", model="mistral", minutes=5))
    assert all(e.event_id for e in recorded)
    history = ledger.history("llama")
    assert [e.kind for e in history] == [
        "rolled_back",
        "check_failed",
        "promoted",
        "refused",
        "deployed",
    ]
    assert history[2] == recorded[2]
    assert history[2].approver == "alice" and history[2].run_id == "r-1"
    assert history[3].evidence == {"slo": "pass"}
    assert [e.kind for e in ledger.history("llama", env="staging")] == ["deployed"]
    assert [e.kind for e in ledger.history("llama", limit=2)] == ["rolled_back", "check_failed"]
    assert [e.kind for e in ledger.history("llama", env="staging", limit=1)] == ["deployed"]
    assert [e.model for e in ledger.history("mistral")] == ["mistral"]
    assert ledger.history("unknown") == []
    assert not ledger.has_model("unknown") and ledger.has_model("llama")


def test_same_instant_events_are_all_kept(store: ObjectStore) -> None:
    ledger = Ledger(store)
    for _ in range(5):
        ledger.record(event("refused"))
    assert len(ledger.history("llama")) == 5


def test_aliases_promote_and_rollback(store: ObjectStore) -> None:
    ledger = Ledger(store)
    assert ledger.aliases("llama") == {}
    assert ledger.serving("llama", "production") is None
    staging = AliasTarget(version="1.0.0", digest=D1, since=T0, run_id="r-0")
    ledger.set_alias("llama", "staging", staging)
    v1 = AliasTarget(version="1.0.0", digest=D1, revision="blue", since=T0, run_id="r-1")
    ledger.promote(event("promoted", minutes=1), v1)
    assert ledger.serving("llama", "production") == v1
    assert "production-previous" not in ledger.aliases("llama")
    assert ledger.previous("llama", "production") is None
    v2 = AliasTarget(version="1.1.0", digest=D2, revision="green", since=T0, run_id="r-2")
    ledger.promote(event("promoted", version="1.1.0", digest=D2, minutes=2), v2)
    # re-promoting the same digest must not overwrite the real rollback target
    ledger.promote(event("promoted", version="1.1.0", digest=D2, minutes=3), v2)
    aliases = ledger.aliases("llama")
    assert aliases["production"] == v2 and aliases["production-previous"] == v1
    assert aliases["staging"] == staging
    assert ledger.previous("llama", "production") == v1  # the rollback target
    restored = ledger.rollback(event("rolled_back", digest=D2, minutes=4, run_id="r-3"))
    assert (restored.version, restored.digest, restored.revision) == ("1.0.0", D1, "blue")
    assert restored.run_id == "r-3"
    after = ledger.aliases("llama")
    assert after["production"] == restored and "production-previous" not in after
    assert ledger.previous("llama", "production") is None  # nothing to roll back to any more
    with pytest.raises(LedgerError, match="nothing to roll back to"):
        ledger.rollback(event("rolled_back", minutes=5))
    kinds = [e.kind for e in ledger.history("llama", env="production")]
    assert kinds == ["rolled_back", "promoted", "promoted", "promoted"]


def test_concurrent_writers_lose_no_events(tmp_path: Path) -> None:
    ledger = Ledger(LocalDirStore(tmp_path / "store"))

    def write(n: int) -> None:
        for i in range(10):
            ledger.record(event("refused", reason=f"writer {n} #{i}"))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(ledger.history("llama")) == 40


def test_invalid_names_and_corrupt_objects(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path / "store")
    ledger = Ledger(store)
    with pytest.raises(LedgerError, match="invalid model name"):
        ledger.record(event("promoted", model="../etc"))
    with pytest.raises(LedgerError, match="invalid environment"):
        ledger.record(event("promoted", env="Prod uction"))
    with pytest.raises(LedgerError, match="invalid alias"):
        ledger.set_alias("llama", "PROD", AliasTarget(version="1", digest=D1))
    store.put_bytes("_ledger/llama/events/20261128T100000.000000Z-x.json", b"{not json")
    with pytest.raises(LedgerError, match="corrupt ledger event"):
        ledger.history("llama")
    store.put_bytes("_ledger/llama/aliases.json", b'{"model": "llama", "aliases": {"x": 1}}')
    with pytest.raises(LedgerError, match="corrupt aliases file"):
        ledger.aliases("llama")


def test_events_are_utc_and_keys_live_under_ledger_prefix(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path / "store")
    cet = datetime(2026, 11, 28, 11, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Europe/Berlin")
    )
    stored = Ledger(store).record(event("deployed", time=cet))
    assert stored.time.tzinfo == UTC and stored.time.hour == 11
    keys = store.list_keys("_ledger/")
    assert keys == [f"_ledger/llama/events/20261128T110000.000000Z-{stored.event_id}.json"]


# --- CLI -------------------------------------------------------------------------------------


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test app."""

    history_cmd.register(app)
    return app


def _seed(store: ObjectStore) -> None:
    ledger = Ledger(store)
    ledger.record(event("deployed", env="staging", reason="integration tests passed"))
    ledger.promote(
        event("promoted", minutes=1, approver="alice", run_id="run-42", reason="all gates passed"),
        AliasTarget(version="1.0.0", digest=D1, since=T0, run_id="run-42"),
    )


def test_cli_history_text_and_json(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    _seed(LocalDirStore(root))
    runner = CliRunner()
    result = runner.invoke(
        _cli(), ["history", "llama", "--store", str(root)], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    assert "promoted" in result.output and "run-42" in result.output
    assert "all gates passed" in result.output and D1[:12] in result.output
    result = runner.invoke(
        _cli(),
        ["history", "llama", "--store", str(root), "--format", "json", "--env", "production"],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["aliases"]["production"]["digest"] == D1
    assert [e["kind"] for e in payload["events"]] == ["promoted"]
    assert payload["events"][0]["approver"] == "alice"


def test_cli_unknown_model_and_bad_store(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    _seed(LocalDirStore(root))
    runner = CliRunner()
    result = runner.invoke(_cli(), ["history", "mistral", "--store", str(root)])
    assert result.exit_code == 1
    assert "no history for model 'mistral'" in result.output
    missing = tmp_path / "nope"
    result = runner.invoke(_cli(), ["history", "llama", "--store", str(missing)])
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not missing.exists()
    result = runner.invoke(_cli(), ["history", "llama", "--store", "gs://bucket/x"])
    assert result.exit_code == 2 and "unsupported" in result.output
    result = runner.invoke(_cli(), ["history", "Bad_Name", "--store", str(root)])
    assert result.exit_code == 2 and "invalid model name" in result.output


def test_cli_s3_store_and_unreachable(moto_endpoint: str, tmp_path: Path) -> None:
    client = _s3_client(moto_endpoint)
    client.create_bucket(Bucket="cli-ledger")
    _seed(S3Store(client, "cli-ledger", "artifacts"))
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "ARTIFACT_STORE_URI": "s3://cli-ledger/artifacts",
        "AWS_MAX_ATTEMPTS": "1",
    }
    entry = Path(sys.executable).parent / "llm-platform"
    cli = [str(entry), "history", "llama", "--format", "json"]
    proc = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["aliases"]["production"]["version"] == "1.0.0"
    env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    env["AWS_RETRY_MODE"] = "standard"
    proc = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "unreachable" in proc.stderr
