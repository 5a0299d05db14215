"""Verified approvals: real git repos, real SSH keys (ssh-keygen), signatures verified by git.

Every rule of an approval that counts, and the README's promises about the trust root.
The ``approvals check`` CLI and the gate's approval item: ``test_approvals_signed_cli.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_platform.promotion import TrustRootError, check_approval
from llm_platform.settings import TRUSTED_SIGNERS_ENV
from tests.helpers.approvals_world import DIGEST, MODEL, OTHER, World
from tests.helpers.signing_fixtures import approval_entry, commit_as, git_as


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
    repo, head, env = world.head()
    args = dict(env=env, model="llama", version="1.0.0", digest=DIGEST)
    with pytest.raises(TrustRootError, match=f"{TRUSTED_SIGNERS_ENV} is not set"):
        check_approval(repo, head, trust_root=None, **args)  # type: ignore[arg-type]
    with pytest.raises(TrustRootError, match="no such file"):
        check_approval(repo, head, trust_root=tmp_path / "nope", **args)  # type: ignore[arg-type]
    inside = world.path / "allowed_signers"
    inside.write_text(world.signers.trust_root.read_text())
    with pytest.raises(TrustRootError, match="inside the models repository"):
        check_approval(repo, head, trust_root=inside, **args)  # type: ignore[arg-type]
    empty = tmp_path / "empty_signers"
    empty.write_text("# nobody\n")
    with pytest.raises(TrustRootError, match="no keys"):
        check_approval(repo, head, trust_root=empty, **args)  # type: ignore[arg-type]


def test_not_required_needs_no_trust_root(world: World) -> None:
    world.set_env(required=False)
    commit_as(world.path, "dave", "no approval needed")
    decision = world.check(trust_root=Path("/nonexistent/allowed_signers"))
    assert decision.approved and decision.reason == "approval not required"


# --- the README's promises about the trust root ("Verified approvals") -----------------------


def test_removing_a_key_from_the_trust_root_un_approves_what_it_signed(
    world: World, tmp_path: Path
) -> None:
    """The operator edits the file; the next check (same process, no restart) reads it."""
    root = tmp_path / "allowed_signers"
    lines = world.signers.trust_root.read_text().splitlines(keepends=True)
    root.write_text("".join(lines))
    world.approve(approval_entry(digest=DIGEST), by="alice", signed_by="alice")
    assert world.check(trust_root=root).approved
    root.write_text("".join(line for line in lines if not line.startswith("alice@")))
    decision = world.check(trust_root=root)
    assert not decision.approved
    assert "is signed by a key that is not in the trust root" in decision.reason
    root.write_text("".join(lines))  # the key is back: so is the approval
    assert world.check(trust_root=root).approved


def test_no_repository_config_can_redirect_verification(world: World, tmp_path: Path) -> None:
    """The models repo's own ``.git/config`` names an allowed-signers file that also lists
    mallory's key as alice's (honoured, it would approve): git still verifies against the trust
    root."""
    forged = tmp_path / "forged_allowed_signers"
    mallory = world.signers.keys["mallory"].with_suffix(".pub").read_text().split()[:2]
    forged.write_text(
        world.signers.trust_root.read_text()
        + f'alice@example.com namespaces="git" {" ".join(mallory)}\n'
    )
    world.approve(approval_entry(digest=DIGEST), by="mallory", signed_by="mallory")
    git_as(world.path, "mallory", "config", "gpg.ssh.allowedSignersFile", str(forged))
    decision = world.check()
    assert not decision.approved
    assert "is signed by a key that is not in the trust root" in decision.reason


def test_an_unsigned_latest_model_change_refuses_every_approval_with_that_reason(
    world: World,
) -> None:
    world.approve(
        approval_entry(digest=DIGEST, approver="alice"),
        approval_entry(digest=DIGEST, approver="bob"),
        by="alice",
        signed_by="alice",
    )
    world.approve(
        approval_entry(digest=DIGEST, approver="alice"),
        approval_entry(digest=DIGEST, approver="bob", comment="bob's own"),
        by="bob",
        signed_by="bob",
    )
    assert world.check().approved
    world.write("models/llama/model.yaml", MODEL + "# unsigned change\n")
    change = commit_as(world.path, "dave", "llama tweak")
    decision = world.check()
    assert not decision.approved
    assert len(decision.reasons) == 2, decision.reasons
    assert all(f"commit {change[:12]} is not signed" in r for r in decision.reasons)
