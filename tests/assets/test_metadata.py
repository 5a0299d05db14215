"""Typed, readable UI metadata: owners, tags and code references on every asset and check,
human lead times, links to commits, rounded numbers, timestamps as timestamps."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from assets.names import OWNER, TAG_LAYER
from definitions import build_defs
from llm_platform.common.ui_numbers import round_ms, round_ratio, round_seconds, round_sig
from llm_platform.dora.format import format_hours
from llm_platform.reporting.github_client import commit_url, github_web_url
from llm_platform.settings import Settings
from resources.github import CommitStatusResource
from tests.helpers.paths import REPO_ROOT

ROOT = REPO_ROOT
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def defs(tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    tmp = tmp_path_factory.mktemp("defs")
    return build_defs(
        Settings.from_env(
            {
                "LLM_PLATFORM_MODELS_REPO": str(tmp / "does-not-exist"),
                "LLM_PLATFORM_HOME": str(tmp / "h"),
            }
        )
    )


def _specs(defs: dg.Definitions) -> list[dg.AssetSpec]:
    return [spec for asset in defs.assets or [] for spec in asset.specs]  # type: ignore[union-attr]


def test_every_asset_has_an_owner_a_layer_and_kinds(defs: dg.Definitions) -> None:
    specs = _specs(defs)
    assert len(specs) == 5
    for spec in specs:
        assert list(spec.owners) == [OWNER], spec.key
        assert spec.tags.get(TAG_LAYER), spec.key
        assert spec.kinds, spec.key
    by_key = {spec.key.to_user_string(): spec for spec in specs}
    assert by_key["staging_deployment"].tags["environment"] == "staging"
    assert by_key["production_deployment"].tags["environment"] == "production"


def test_every_asset_links_to_its_body_not_to_a_decorator(defs: dg.Definitions) -> None:
    for spec in _specs(defs):
        refs = spec.metadata["dagster/code_references"].code_references
        assert len(refs) == 1, spec.key
        path = Path(refs[0].file_path)
        assert path.parent == ROOT / "assets", (spec.key, path)
        lines = path.read_text().splitlines()
        # the referenced line is the decorator stack or the def of the asset's function
        assert lines[refs[0].line_number - 1].startswith(("@", "def ")), (spec.key, path)


def test_every_check_records_its_owner_and_layer(defs: dg.Definitions) -> None:
    check_specs = [
        spec
        for definition in [*(defs.assets or []), *(defs.asset_checks or [])]
        for spec in definition.check_specs  # type: ignore[union-attr]
    ]
    assert len(check_specs) >= 8
    for spec in check_specs:
        assert spec.metadata.get("owner") == OWNER, spec.key
        assert spec.metadata.get(TAG_LAYER), spec.key


@pytest.mark.parametrize(
    ("hours", "text"),
    [
        (None, "-"),
        (20 / 3600, "20 s"),
        (0.7, "42 min"),
        (3.2, "3.2 h"),
        (50.4, "2.1 d"),
    ],
)
def test_lead_time_reads_in_a_human_unit(hours: float | None, text: str) -> None:
    assert format_hours(hours) == text


def test_commit_link_on_github_and_enterprise() -> None:
    assert commit_url("acme/models", SHA) == f"https://github.com/acme/models/commit/{SHA}"
    assert (
        commit_url("acme/models", SHA, api_url="https://ghe.example.com/api/v3")
        == f"https://ghe.example.com/acme/models/commit/{SHA}"
    )
    assert github_web_url("https://api.github.com/") == "https://github.com"
    assert commit_url(None, SHA) is None
    assert commit_url("not a repo", SHA) is None
    assert commit_url("acme/models", "HEAD; rm -rf") is None


def test_commit_link_metadata_from_the_resource(tmp_path: Path) -> None:
    linked = CommitStatusResource(repository="acme/models")
    meta = linked.commit_link_metadata(SHA)
    assert isinstance(meta["commit_url"], dg.UrlMetadataValue)
    assert meta["commit_url"].value == f"https://github.com/acme/models/commit/{SHA}"
    from_remote = CommitStatusResource(models_repo="git@github.com:acme/models.git")
    assert from_remote.commit_url(SHA) == f"https://github.com/acme/models/commit/{SHA}"
    local = CommitStatusResource(models_repo=str(tmp_path / "no-such-repo"))
    assert local.commit_link_metadata(SHA) == {}  # not on GitHub: commit_sha stays text only


def test_numbers_are_rounded_and_stay_numbers() -> None:
    assert round_ms(412.28571) == 412.3
    assert round_seconds(12.34567) == 12.35
    assert round_ratio(0.987654) == 0.9877
    assert round_ratio(1234.5678) == 1235.0
    assert round_sig(0.0001234567) == 0.0001235
    assert round_sig(0.0) == 0.0
    assert isinstance(round_ratio(1.0), float)


def test_timestamp_metadata_value_reads_back_as_the_float() -> None:
    # readers use ``{k: v.value}`` (assets.check_history) and float(...) on deployed_at_unix
    value = dg.MetadataValue.timestamp(1_700_000_000.5)
    assert isinstance(value, dg.TimestampMetadataValue)
    assert float(value.value) == 1_700_000_000.5
