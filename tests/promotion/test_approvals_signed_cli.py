"""The ``approvals check`` CLI (exit 0 approved, 1 refused with every reason, 2 configuration
error) and the production gate's approval item, on real signed git repos."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from llm_platform.artifact_store import LocalDirStore, ModelRegistry
from llm_platform.cli import _register, app
from llm_platform.settings import HOME_ENV, TRUSTED_SIGNERS_ENV
from tests.helpers.approvals_world import DIGEST, OTHER, World
from tests.helpers.registry_fixtures import record_meta
from tests.helpers.signing_fixtures import approval_entry, commit_as


def cli(  # type: ignore[no-untyped-def]
    world: World,
    *extra: str,
    trust_root: str | None = None,
    digest: str = DIGEST,
    environ: dict[str, str] | None = None,
):
    _register()
    root = str(world.signers.trust_root) if trust_root is None else trust_root
    # A home of its own: the CLI falls back to the home's trust root and artifact store.
    home = world.path.parent / "platform-home"
    return CliRunner().invoke(
        app,
        [
            "approvals",
            "check",
            "--env",
            "production",
            "--model",
            "llama",
            "--version",
            "1.0.0",
            "--digest",
            digest,
            "--repo",
            str(world.path),
            *extra,
        ],
        env={
            TRUSTED_SIGNERS_ENV: root,
            HOME_ENV: str(home),
            "ARTIFACT_STORE_URI": str(home / "artifacts"),
            **(environ or {}),
        },
    )


def test_cli_exit_codes_and_json(world: World) -> None:
    refused = cli(world)
    assert refused.exit_code == 1, refused.output
    assert "refused" in refused.output and "no approval for llama 1.0.0" in refused.output
    commit = world.approve(
        approval_entry(digest=DIGEST, approver="carol"),
        approval_entry(digest=DIGEST, approver="alice"),
        by="bob",
        signed_by="bob",
    )
    listed = cli(world, "--format", "json")
    assert listed.exit_code == 1, listed.output
    doc = json.loads(listed.output)
    assert doc["verdict"] == "refused" and doc["approval"] is None
    assert doc["commit"] == commit and len(doc["reasons"]) == 3, doc["reasons"]
    # The same entry committed again by alice is still bob's; alice signs her own form of it.
    world.approve(approval_entry(digest=DIGEST), by="alice", signed_by="alice")
    assert cli(world).exit_code == 1
    world.approve(approval_entry(digest=DIGEST, comment="mine"), by="alice", signed_by="alice")
    ok = cli(world, "--format", "json")
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.output)
    assert doc["verdict"] == "approved" and doc["reasons"] == []
    assert doc["approval"]["signer"] == "alice@example.com"
    assert doc["approval"]["approver"] == "alice"
    assert doc["model"] == "llama" and doc["env"] == "production" and doc["digest"] == DIGEST
    text = cli(world)
    assert text.exit_code == 0 and "approved by alice@example.com" in text.output


def test_cli_configuration_errors_exit_2(world: World, tmp_path: Path) -> None:
    unset = cli(world, trust_root="")
    assert unset.exit_code == 2
    assert f"{TRUSTED_SIGNERS_ENV} is not set" in unset.output
    missing = cli(world, trust_root=str(tmp_path / "missing"))
    assert missing.exit_code == 2 and "no such file" in missing.output
    relative = cli(world, trust_root="relative/allowed_signers")
    assert relative.exit_code == 2 and "absolute" in relative.output
    short = cli(world, digest="abc")
    assert short.exit_code == 2 and "sha256 (64 hex) or a prefix of at least 8" in short.output
    unknown = cli(world, digest=DIGEST[:12])  # nothing registered under that prefix
    assert (
        unknown.exit_code == 2 and "no registered artifact's digest starts with" in unknown.output
    )
    world.write("approvals/llama.yaml", "approvals: [1]\n")
    commit_as(world.path, "dave", "broken approvals")
    broken = cli(world)
    assert broken.exit_code == 2 and "approvals/llama.yaml" in broken.output


def test_cli_uses_the_homes_trust_root_and_digest_prefixes(world: World) -> None:
    """From a plain shell after ``make demo``: no variable set, the 12 hex digits tables show."""
    home = world.path.parent / "platform-home"
    weights = world.path.parent / "weights"
    weights.mkdir()
    (weights / "model.bin").write_bytes(b"weights")
    outcome = ModelRegistry(LocalDirStore(home / "artifacts")).register(
        weights, name="llama", version="1.0.0", **record_meta(str(weights))
    )
    digest = outcome.record.digest
    world.approve(approval_entry(digest=digest), by="alice", signed_by="alice")
    unset = cli(world, trust_root="", digest=digest[:12])
    assert unset.exit_code == 2 and f"{TRUSTED_SIGNERS_ENV} is not set" in unset.output
    signing = home / "signing"
    signing.mkdir(parents=True)
    (signing / "allowed_signers").write_bytes(world.signers.trust_root.read_bytes())
    ok = cli(world, "--format", "json", trust_root="", digest=digest[:12])
    assert ok.exit_code == 0, ok.output
    assert f"using this home's trust root {signing / 'allowed_signers'}" in ok.stderr
    assert json.loads(ok.stdout)["digest"] == digest  # the prefix resolved to the full digest
    assert cli(world, trust_root="", digest=digest[:12].upper()).exit_code == 0
    other = cli(world, trust_root="", digest=OTHER[:12])
    assert other.exit_code == 2 and "starts with" in other.output


# --- the production gate's approval item -------------------------------------------------------


def test_gate_item_refuses_without_trust_root_and_for_ui_approvers(world: World) -> None:
    from llm_platform.promotion.gate_items import approval_item

    world.approve(approval_entry(digest=DIGEST), by="alice", signed_by="alice")
    repo, head, env = world.head()
    args = dict(repo=repo, head=head, env=env, model="llama", version="1.0.0", comment="")
    item, approval = approval_item(digest=DIGEST, trust_root=None, approver=None, **args)  # type: ignore[arg-type]
    assert not item.ok and approval is None
    assert item.reason.startswith(f"configuration error: {TRUSTED_SIGNERS_ENV} is not set")
    root = world.signers.trust_root
    item, approval = approval_item(digest=OTHER, trust_root=root, approver="alice", **args)  # type: ignore[arg-type]
    assert not item.ok and approval is None
    assert "the UI launch's approver 'alice' never satisfies a required approval" in item.reason
    item, approval = approval_item(digest=DIGEST, trust_root=root, approver=None, **args)  # type: ignore[arg-type]
    assert item.ok and approval is not None and approval.approver == "alice"
