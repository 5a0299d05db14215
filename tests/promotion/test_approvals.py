"""Approvals: strict parsing of approvals/<model>.yaml and every refusal reason of the rule."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from llm_platform.config import ConfigError, EnvironmentConfig, parse_environment_config
from llm_platform.gitops import GitError, GitRepo
from llm_platform.promotion import (
    Approval,
    CommitSignature,
    approval_from_run_config,
    find_approval,
    load_approvals,
    parse_approvals,
)
from tests.helpers.gitops_fixtures import WorkRepo

DIGEST = "ab" * 32
OTHER = "cd" * 32


def env_config(*, required: bool = True, approvers: str = "[alice, bob]") -> EnvironmentConfig:
    text = (
        "environment: production\nnamespace: production\n"
        f"deployment:\n  strategy: blue-green\n  approval_required: {str(required).lower()}\n"
        f"approvers: {approvers}\n"
    )
    return parse_environment_config(text.encode(), source="config/production.yaml")


def approvals_yaml(*entries: str) -> bytes:
    return ("approvals:\n" + "".join(entries)).encode()


def entry(
    *,
    env: str = "production",
    version: str = "1.0.0",
    digest: str = DIGEST,
    approver: str = "alice",
    at: str = "2026-11-28T10:00:00Z",
    extra: str = "",
) -> str:
    return (
        f"  - environment: {env}\n    version: {version}\n    digest: {digest}\n"
        f"    approver: {approver}\n    approved_at: {at}\n{extra}"
    )


#: The latest change of models/llama/: by dave, signed by carol's trusted key (nobody here
#: approves their own change).
MODEL_CHANGE = CommitSignature(
    commit="d" * 40, status="G", signer="carol@example.com", author_email="dave@example.com"
)


def signed_by(name: str) -> CommitSignature:
    """A commit with a good signature by ``name``'s key in the trust root."""
    return CommitSignature(commit="5" * 40, status="G", signer=f"{name}@example.com")


def approval(**changes: object) -> Approval:
    """A git approval whose introducing commit is signed by its approver (unless overridden)."""
    data: dict[str, object] = dict(
        environment="production",
        model="llama",
        version="1.0.0",
        digest=DIGEST,
        approver="alice",
        approved_at=datetime(2026, 11, 28, 10, tzinfo=UTC),
        source="git",
    )
    data.update(changes)
    data.setdefault("introduced_by", signed_by(str(data["approver"])))
    return Approval.model_validate(data)


def decide(approvals: list[Approval], **kwargs: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = dict(
        env=env_config(), model="llama", version="1.0.0", digest=DIGEST, model_change=MODEL_CHANGE
    )
    args.update(kwargs)
    return find_approval(approvals, **args)  # type: ignore[arg-type]


# --- parsing ---------------------------------------------------------------------------------


def test_parse_valid_file() -> None:
    data = approvals_yaml(
        entry(digest="SHA256:" + DIGEST.upper(), extra="    comment: load test reviewed\n"),
        entry(env="staging", digest=DIGEST[:12], approver="bob", at="2026-11-28T11:00:00+01:00"),
    )
    approvals = parse_approvals(data, model="llama", source="approvals/llama.yaml", commit="c0ffee")
    assert len(approvals) == 2
    first, second = approvals
    assert first.model == "llama" and first.source == "git"
    assert first.digest == DIGEST
    assert first.comment == "load test reviewed"
    assert first.origin == "approvals/llama.yaml@c0ffee"
    assert second.digest == DIGEST[:12]
    assert second.approved_at == datetime(2026, 11, 28, 10, tzinfo=UTC)
    assert second.approved_at.tzinfo == UTC


@pytest.mark.parametrize(
    ("body", "line", "field", "needle"),
    [
        (approvals_yaml(entry(extra="    approvr: x\n")), 7, "approvals[0].approvr", "unknown key"),
        (approvals_yaml(entry(digest=DIGEST[:11])), 4, "approvals[0].digest", "too short"),
        (approvals_yaml(entry(digest="zz" * 32)), 4, "approvals[0].digest", "sha256 hex"),
        (approvals_yaml(entry(digest=DIGEST + "ab")), 4, "approvals[0].digest", "66 hex"),
        (
            approvals_yaml(entry(at="2026-11-28T10:00:00")),
            6,
            "approvals[0].approved_at",
            "timezone",
        ),
        (b"approvals:\n  - environment: production\n", 2, "approvals[0].version", "missing"),
        (b"approval: []\n", 1, "approval", "unknown key"),
    ],
)
def test_parse_problems_name_line_and_field(
    body: bytes, line: int, field: str, needle: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_approvals(body, model="llama", source="approvals/llama.yaml")
    problems = [p for p in info.value.problems if p.field == field]
    assert problems, info.value.problems
    assert problems[0].line == line
    assert problems[0].path == "approvals/llama.yaml"
    assert needle in problems[0].message


def test_parse_refuses_duplicate_keys_and_tags() -> None:
    dup = approvals_yaml(entry(extra="    approver: mallory\n"))
    with pytest.raises(ConfigError, match="duplicate key"):
        parse_approvals(dup, model="llama", source="approvals/llama.yaml")
    tagged = b"approvals: !!python/object:os.system []\n"
    with pytest.raises(ConfigError, match="tags are not allowed"):
        parse_approvals(tagged, model="llama", source="approvals/llama.yaml")


# --- the rule --------------------------------------------------------------------------------


def test_matching_authorized_approval_is_accepted_newest_wins() -> None:
    old = approval(approver="bob", approved_at=datetime(2026, 11, 1, tzinfo=UTC))
    new = approval(approver="alice", approved_at=datetime(2026, 11, 27, tzinfo=UTC))
    decision = decide([old, new, approval(model="other", approver="bob")])
    assert decision.approved
    assert decision.approval == new
    assert "alice" in decision.reason


def test_prefix_of_twelve_is_enough() -> None:
    decision = decide([approval(digest=DIGEST[:12])])
    assert decision.approved and decision.approval is not None


def test_wrong_digest_is_refused() -> None:
    decision = decide([approval(digest=OTHER)])
    assert not decision.approved and decision.approval is None
    assert "other digests" in decision.reason and OTHER[:12] in decision.reason


def test_wrong_version_is_refused() -> None:
    decision = decide([approval(version="0.9.0")])
    assert not decision.approved
    assert "other versions (0.9.0)" in decision.reason


def test_wrong_environment_is_refused() -> None:
    decision = decide([approval(environment="staging")])
    assert not decision.approved
    assert "other environments (staging)" in decision.reason


def test_other_model_or_nothing_is_refused() -> None:
    decision = decide([approval(model="mistral")])
    assert not decision.approved
    assert decision.reason.startswith("no approval for llama 1.0.0")


def test_unauthorized_approver_is_refused_naming_approver_and_allowed_list() -> None:
    decision = decide([approval(approver="mallory")])
    assert not decision.approved
    assert "approver mallory@example.com is not allowed" in decision.reason
    assert "allowed approvers: alice, bob" in decision.reason


def test_unverified_approvals_are_refused() -> None:
    unknown = decide([approval(introduced_by=None)])
    assert not unknown.approved and "could not be determined" in unknown.reason
    untrusted = CommitSignature(commit="e" * 40, status="U")
    refused = decide([approval(introduced_by=untrusted)])
    assert not refused.approved
    assert f"commit {'e' * 12} is signed by a key that is not in the trust root" in refused.reason
    # A "good" status without a principal is not good.
    assert not decide(
        [approval(introduced_by=CommitSignature(commit="f" * 40, status="G"))]
    ).approved


def test_four_eyes_on_author_and_signer() -> None:
    by_alice = CommitSignature(
        commit="a" * 40, status="G", signer="carol@example.com", author_email="Alice@Example.com"
    )
    decision = decide([approval()], model_change=by_alice)
    assert not decision.approved and "is the author of commit" in decision.reason
    signed_by_bob = CommitSignature(
        commit="b" * 40, status="G", signer="bob@example.com", author_email="dave@example.com"
    )
    assert decide([approval()], model_change=signed_by_bob).approved
    decision = decide([approval(approver="bob")], model_change=signed_by_bob)
    assert not decision.approved and "is the signer of commit" in decision.reason
    unknown = decide([approval()], model_change=None)
    assert not unknown.approved and "four eyes cannot be checked" in unknown.reason


def test_authorized_wins_over_unauthorized() -> None:
    decision = decide([approval(approver="mallory"), approval(approver="bob")])
    assert decision.approved and decision.approval is not None
    assert decision.approval.approver == "bob"


def test_ambiguous_prefix_is_refused() -> None:
    sibling = DIGEST[:12] + "ff" * 26
    decision = decide([approval(digest=DIGEST[:12])], known_digests=[DIGEST, sibling])
    assert not decision.approved
    assert "ambiguous" in decision.reason
    full = decide([approval(digest=DIGEST)], known_digests=[DIGEST, sibling])
    assert full.approved


def test_short_prefix_cannot_even_be_constructed() -> None:
    with pytest.raises(ValueError, match="too short"):
        approval(digest=DIGEST[:8])


def test_candidate_digest_must_be_full() -> None:
    with pytest.raises(ValueError, match="full sha256"):
        decide([approval()], digest=DIGEST[:12])


def test_approval_not_required() -> None:
    decision = decide([], env=env_config(required=False))
    assert decision.approved and decision.approval is None
    assert decision.reason == "approval not required"


def test_required_without_approvers_is_refused() -> None:
    decision = decide([approval()], env=env_config(approvers="[]"))
    assert not decision.approved
    assert "lists no approvers" in decision.reason


# --- UI launch ---------------------------------------------------------------------------------


def test_run_config_approval_never_satisfies_a_required_approval() -> None:
    for name in ("bob", "eve"):
        refused = approval_from_run_config(
            {"approver": name, "comment": "go"},
            env=env_config(),
            model="llama",
            version="1.0.0",
            digest=DIGEST,
        )
        assert not refused.approved and refused.approval is None
        assert f"the UI launch's approver {name!r} never satisfies a required approval" in (
            refused.reason
        )
        assert "Dagster OSS has no authenticated user" in refused.reason
    not_required = approval_from_run_config(
        {"approver": "eve"},
        env=env_config(required=False),
        model="llama",
        version="1.0.0",
        digest=DIGEST,
    )
    assert not_required.approved and not_required.reason == "approval not required"


def test_run_config_malformed_is_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        approval_from_run_config(
            {"aprover": "bob"}, env=env_config(), model="llama", version="1.0.0", digest=DIGEST
        )
    fields = {p.field for p in info.value.problems}
    assert {"aprover", "approver"} <= fields


# --- from the models repo --------------------------------------------------------------------


def test_load_approvals_from_git(tmp_path: Path) -> None:
    work = WorkRepo(tmp_path / "repo")
    work.write("models/llama/model.yaml", "name: llama\n")
    before = work.commit("model only")
    work.write("approvals/llama.yaml", approvals_yaml(entry()).decode())
    after = work.commit("approve llama")
    repo = GitRepo(str(work.path))
    assert load_approvals(repo, before, "llama") == []
    loaded = load_approvals(repo, after, "llama")
    assert [a.approver for a in loaded] == ["alice"]
    assert loaded[0].origin == f"approvals/llama.yaml@{after}"
    assert loaded[0].introduced_by is None  # not yet traced: never approves on its own
    assert not decide(loaded).approved
    with pytest.raises(GitError):
        load_approvals(repo, "f" * 40, "llama")
    work.write("approvals/llama.yaml", "approvals: [1]\n")
    broken = work.commit("broken")
    with pytest.raises(ConfigError, match="approvals/llama.yaml"):
        load_approvals(repo, broken, "llama")


def test_an_unsigned_model_change_is_refused_whoever_it_names() -> None:
    """The author is typed by the committer: bob commits as ``--author mallory`` and approves
    himself. Only a verified signature says who changed the model."""
    as_mallory = CommitSignature(commit="c" * 40, status="N", author_email="mallory@example.com")
    decision = decide([approval(approver="bob")], model_change=as_mallory)
    assert not decision.approved
    assert (
        "the latest change of llama (commit cccccccccccc is not signed) is not signed by a key "
        "in the trust root, so who made it cannot be verified (four eyes)"
    ) in decision.reason
    untrusted = CommitSignature(commit="c" * 40, status="U", author_email="carol@example.com")
    assert not decide([approval()], model_change=untrusted).approved
