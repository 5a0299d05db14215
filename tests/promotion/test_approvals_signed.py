"""Verified approvals: real git repos, real SSH keys (ssh-keygen), signatures verified by git.

Every rule of an approval that counts, and the CLI's contract (exit 0 approved, 1 refused with
every reason, 2 configuration error).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_platform.cli import _register, app
from llm_platform.config import parse_environment_config
from llm_platform.gitops import GitRepo
from llm_platform.promotion import TrustRootError, check_approval
from llm_platform.registry import LocalDirStore, ModelRegistry
from llm_platform.settings import HOME_ENV, TRUSTED_SIGNERS_ENV
from tests.helpers.registry_fixtures import record_meta
from tests.helpers.signing_fixtures import Signers, approval_entry, commit_as, git_as, make_signers

DIGEST = "ab" * 32
OTHER = "cd" * 32
PRODUCTION = """\
environment: production
namespace: production
deployment:
  strategy: blue-green
  approval_required: {required}
approvers: {approvers}
"""
MODEL = "name: llama\nversion: 1.0.0\n"


@pytest.fixture(scope="module")
def signers(tmp_path_factory: pytest.TempPathFactory) -> Signers:
    return make_signers(tmp_path_factory.mktemp("keys"))


class World:
    """A models repo whose ``llama`` model was last changed by dave, signed with his key
    (trusted, not an approver: the change's verified identity)."""

    def __init__(self, path: Path, signers: Signers) -> None:
        self.path, self.signers = path, signers
        path.mkdir()
        git_as(path, "dave", "init", "-q", "-b", "main")
        self.set_env()
        self.write("models/llama/model.yaml", MODEL)
        commit_as(path, "dave", "llama 1.0.0", key=signers.keys["dave"])

    def write(self, rel: str, text: str) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def set_env(self, *, required: bool = True, approvers: str = "[alice, bob]") -> None:
        text = PRODUCTION.format(required=str(required).lower(), approvers=approvers)
        self.write("config/production.yaml", text)

    def approve(self, *entries: str, by: str, signed_by: str | None = None) -> str:
        """Write ``approvals/llama.yaml`` with ``entries`` and commit as ``by``."""
        self.write("approvals/llama.yaml", "approvals:\n" + "".join(entries))
        key = self.signers.keys[signed_by] if signed_by else None
        return commit_as(self.path, by, f"approvals by {by}", key=key)

    def check(self, *, digest: str = DIGEST, trust_root: Path | None = None, **kw):  # type: ignore[no-untyped-def]
        repo = GitRepo(str(self.path))
        head = repo.head()
        env = parse_environment_config(
            repo.read_file(head, "config/production.yaml"), source="config/production.yaml"
        )
        return check_approval(
            repo,
            head,
            env=env,
            model="llama",
            version="1.0.0",
            digest=digest,
            trust_root=trust_root or self.signers.trust_root,
            **kw,
        )


@pytest.fixture
def world(tmp_path: Path, signers: Signers) -> World:
    return World(tmp_path / "models", signers)


def test_signed_by_the_approver_counts(world: World) -> None:
    commit = world.approve(approval_entry(digest=DIGEST), by="alice", signed_by="alice")
    decision = world.check()
    assert decision.approved, decision.reasons
    assert decision.approval is not None and decision.approval.introduced_by is not None
    assert decision.approval.introduced_by.commit == commit
    assert decision.approval.introduced_by.signer == "alice@example.com"
    assert "approved by alice@example.com" in decision.reason


def test_unsigned_entry_is_refused(world: World) -> None:
    commit = world.approve(approval_entry(digest=DIGEST), by="alice")
    decision = world.check()
    assert not decision.approved
    assert decision.reasons == [
        f"approval of llama 1.0.0 (digest {DIGEST[:12]}) into 'production' by 'alice' "
        f"(approvals/llama.yaml@{commit}): introduced by commit {commit[:12]} is not signed"
    ]


def test_key_outside_the_trust_root_is_refused(world: World) -> None:
    world.approve(approval_entry(digest=DIGEST), by="alice", signed_by="mallory")
    decision = world.check()
    assert not decision.approved
    assert "is signed by a key that is not in the trust root" in decision.reason


def test_signed_by_someone_other_than_the_claimed_approver_is_refused(world: World) -> None:
    world.approve(approval_entry(digest=DIGEST, approver="alice"), by="bob", signed_by="bob")
    decision = world.check()
    assert not decision.approved
    assert "signed by bob@example.com, not by the claimed approver 'alice'" in decision.reason


def test_author_approving_their_own_change_is_refused(world: World) -> None:
    world.write("models/llama/README.md", "alice's change\n")
    change = commit_as(world.path, "alice", "alice edits llama", key=world.signers.keys["alice"])
    world.approve(approval_entry(digest=DIGEST), by="alice", signed_by="alice")
    decision = world.check()
    assert not decision.approved
    assert decision.reasons[-2].endswith(
        f"approver alice@example.com is the author of commit {change[:12]}, the latest change "
        "of models/llama/ (four eyes: someone else must approve)"
    )
    assert "is the signer of commit" in decision.reasons[-1]
    # bob may approve alice's change.
    world.approve(approval_entry(digest=DIGEST, approver="bob"), by="bob", signed_by="bob")
    assert world.check().approved


def test_signer_of_the_model_change_cannot_approve_it(world: World) -> None:
    world.write("models/llama/README.md", "committed by dave, signed by bob\n")
    commit_as(world.path, "dave", "llama docs", key=world.signers.keys["bob"])
    world.approve(approval_entry(digest=DIGEST, approver="bob"), by="bob", signed_by="bob")
    decision = world.check()
    assert not decision.approved
    assert "approver bob@example.com is the signer of commit" in decision.reason


def test_a_change_under_a_false_author_name_is_refused(world: World) -> None:
    """bob commits a model change as ``--author mallory``, then signs his own approval."""
    world.write("models/llama/model.yaml", MODEL + "# bob's change\n")
    change = commit_as(world.path, "bob", "llama tweak", author="mallory")
    world.approve(approval_entry(digest=DIGEST, approver="bob"), by="bob", signed_by="bob")
    decision = world.check()
    assert not decision.approved
    assert f"commit {change[:12]} is not signed" in decision.reason
    assert "who made it cannot be verified" in decision.reason
    # Signed, bob's change is bob's, whatever author it names: he still cannot approve it.
    world.write("models/llama/model.yaml", MODEL + "# bob's change, signed\n")
    commit_as(world.path, "bob", "llama tweak", author="mallory", key=world.signers.keys["bob"])
    decision = world.check()
    assert not decision.approved and "approver bob@example.com is the signer" in decision.reason


def test_changing_the_in_repo_weights_is_a_change_of_the_model(world: World) -> None:
    """A reviewer who swaps the weights ``source.uri`` names changed the model."""
    world.write(
        "models/llama/model.yaml",
        "name: llama\nversion: 1.0.0\narchitecture: llama\n"
        "resources: {memory_gb: 16, gpu_count: 1, gpu_type: nvidia-a100}\n"
        "serving: {max_batch_size: 8, max_sequence_length: 2048, protocol: http}\n"
        "source: {type: local, uri: weights/llama}\n",
    )
    world.write("weights/llama/model.bin", "v1\n")
    commit_as(world.path, "dave", "llama with weights", key=world.signers.keys["dave"])
    world.approve(approval_entry(digest=DIGEST, approver="bob"), by="bob", signed_by="bob")
    assert world.check().approved
    world.write("weights/llama/model.bin", "v2, swapped by bob\n")
    swap = commit_as(world.path, "bob", "new weights", key=world.signers.keys["bob"])
    decision = world.check()
    assert not decision.approved
    assert f"approver bob@example.com is the signer of commit {swap[:12]}" in decision.reason


def test_another_digest_is_refused(world: World) -> None:
    world.approve(approval_entry(digest=OTHER), by="alice", signed_by="alice")
    decision = world.check()
    assert not decision.approved
    assert decision.reason == (
        f"no approval for llama 1.0.0 (digest {DIGEST[:12]}) into 'production': approvals "
        f"name other digests ({OTHER[:12]})"
    )
    assert world.check(digest=OTHER).approved


def test_trusted_signer_who_is_not_an_approver_is_refused(world: World) -> None:
    world.approve(approval_entry(digest=DIGEST, approver="carol"), by="carol", signed_by="carol")
    decision = world.check()
    assert not decision.approved
    assert "approver carol@example.com is not allowed to approve into 'production' " in (
        decision.reason
    )
    assert "(allowed approvers: alice, bob)" in decision.reason


def test_an_edit_by_an_unsigned_commit_no_longer_counts(world: World) -> None:
    world.approve(approval_entry(digest=DIGEST, comment="reviewed"), by="alice", signed_by="alice")
    assert world.check().approved
    # Someone changes the entry (here its comment) without signing: the edit introduced it.
    edit = world.approve(approval_entry(digest=DIGEST, comment="edited"), by="dave")
    decision = world.check()
    assert not decision.approved
    assert f"introduced by commit {edit[:12]} is not signed" in decision.reason
    # alice signs a new form of the entry: it counts again, introduced by her commit.
    signed = world.approve(
        approval_entry(digest=DIGEST, comment="re-approved"), by="alice", signed_by="alice"
    )
    decision = world.check()
    assert decision.approved and decision.approval is not None
    assert decision.approval.introduced_by is not None
    assert decision.approval.introduced_by.commit == signed


def test_moving_an_unchanged_entry_keeps_its_signature(world: World) -> None:
    alice = approval_entry(digest=DIGEST)
    signed = world.approve(alice, by="alice", signed_by="alice")
    # An unsigned commit adds another entry above it and reformats nothing of alice's entry.
    world.approve(approval_entry(digest=OTHER, approver="bob"), alice, by="dave")
    decision = world.check()
    assert decision.approved, decision.reasons
    assert decision.approval is not None and decision.approval.introduced_by is not None
    assert decision.approval.introduced_by.commit == signed


def test_removed_then_re_added_unsigned_is_refused(world: World) -> None:
    world.approve(approval_entry(digest=DIGEST), by="alice", signed_by="alice")
    world.approve(approval_entry(digest=OTHER), by="alice", signed_by="alice")  # revoked
    readded = world.approve(approval_entry(digest=DIGEST), by="dave")
    decision = world.check()
    assert not decision.approved
    assert f"introduced by commit {readded[:12]} is not signed" in decision.reason


def test_signed_commit_merged_by_an_unsigned_merge_counts(world: World) -> None:
    git_as(world.path, "alice", "checkout", "-q", "-b", "approve-llama")
    signed = world.approve(approval_entry(digest=DIGEST), by="alice", signed_by="alice")
    git_as(world.path, "dave", "checkout", "-q", "main")
    world.write("config/staging.yaml", "environment: staging\n")
    commit_as(world.path, "dave", "meanwhile on main")
    git_as(world.path, "dave", "merge", "-q", "--no-ff", "-m", "merge approval", "approve-llama")
    decision = world.check()
    assert decision.approved, decision.reasons
    assert decision.approval is not None and decision.approval.introduced_by is not None
    assert decision.approval.introduced_by.commit == signed


def test_every_reason_is_listed(world: World) -> None:
    # Unsigned, claiming carol (not an approver): two reasons for one entry, one for the other.
    world.approve(
        approval_entry(digest=DIGEST, approver="carol"),
        approval_entry(digest=DIGEST, approver="alice"),
        by="bob",
        signed_by="mallory",
    )
    decision = world.check()
    assert not decision.approved
    assert len(decision.reasons) == 3, decision.reasons
    assert sum("not in the trust root" in r for r in decision.reasons) == 2
    assert sum("carol is not allowed" in r for r in decision.reasons) == 1


def test_e_mail_approvers_match_the_principal_exactly(world: World) -> None:
    world.set_env(approvers="[alice@example.com]")
    world.approve(
        approval_entry(digest=DIGEST, approver="alice@example.com"), by="alice", signed_by="alice"
    )
    assert world.check().approved
    world.set_env(approvers="[alice@example.org]")
    commit_as(world.path, "dave", "other domain")
    decision = world.check()
    assert not decision.approved and "is not allowed" in decision.reason


def test_ui_launch_approver_never_counts(world: World) -> None:
    decision = world.check(ui_approver="alice", ui_comment="looks good")
    assert not decision.approved
    assert "the UI launch's approver 'alice' never satisfies a required approval" in (
        decision.reason
    )
    assert "Dagster OSS has no authenticated user" in decision.reason
    # A signed approval in git still counts when the launch also typed a name.
    world.approve(approval_entry(digest=DIGEST), by="alice", signed_by="alice")
    assert world.check(ui_approver="mallory").approved


def test_no_trust_root_is_a_configuration_error(world: World, tmp_path: Path) -> None:
    world.approve(approval_entry(digest=DIGEST), by="alice", signed_by="alice")
    repo = GitRepo(str(world.path))
    env = parse_environment_config(
        repo.read_file(repo.head(), "config/production.yaml"), source="production"
    )
    args = dict(env=env, model="llama", version="1.0.0", digest=DIGEST)
    with pytest.raises(TrustRootError, match=f"{TRUSTED_SIGNERS_ENV} is not set"):
        check_approval(repo, repo.head(), trust_root=None, **args)  # type: ignore[arg-type]
    with pytest.raises(TrustRootError, match="no such file"):
        check_approval(repo, repo.head(), trust_root=tmp_path / "nope", **args)  # type: ignore[arg-type]
    inside = world.path / "allowed_signers"
    inside.write_text(world.signers.trust_root.read_text())
    with pytest.raises(TrustRootError, match="inside the models repository"):
        check_approval(repo, repo.head(), trust_root=inside, **args)  # type: ignore[arg-type]
    empty = tmp_path / "empty_signers"
    empty.write_text("# nobody\n")
    with pytest.raises(TrustRootError, match="no keys"):
        check_approval(repo, repo.head(), trust_root=empty, **args)  # type: ignore[arg-type]


def test_not_required_needs_no_trust_root(world: World) -> None:
    world.set_env(required=False)
    commit_as(world.path, "dave", "no approval needed")
    decision = world.check(trust_root=Path("/nonexistent/allowed_signers"))
    assert decision.approved and decision.reason == "approval not required"


# --- CLI -------------------------------------------------------------------------------------


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
    repo = GitRepo(str(world.path))
    head = repo.head()
    env = parse_environment_config(
        repo.read_file(head, "config/production.yaml"), source="config/production.yaml"
    )
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
