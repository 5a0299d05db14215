"""Engine resolution for staging and production, and the runtime's engine-dependent wiring
(command lines, readiness paths, refusals) without starting an engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from llm_platform.common.digest import digest_directory
from llm_platform.config.schema import Serving
from llm_platform.promotion.plan import RolloutPlan
from llm_platform.serving.engines import (
    EngineFormatMismatch,
    EngineUnavailable,
    NoEngineForArtifact,
    get_engine,
)
from llm_platform.serving.engines.base import LAUNCH_MODULE
from llm_platform.serving.engines.selection import (
    ENGINE_KEY,
    ServingChoice,
    resolve_serving,
    serving_from_metadata,
)
from llm_platform.slo import profile_for_engine
from llm_platform.targets.base import DeploymentSpec, EngineRefused, RevisionSpec
from llm_platform.targets.local.layout import Commands, Layout
from llm_platform.targets.local.local import LocalRuntime
from tests.helpers.loopback_http import LoopbackServer, QuietHandler

DIGEST = "b" * 64


def test_engine_comes_from_the_format_when_not_configured(
    gguf_dir: Path, builtin_dir: Path, hf_dir: Path
) -> None:
    assert resolve_serving(None, gguf_dir).engine == "llama-cpp"
    assert resolve_serving(Serving(), builtin_dir).engine == "builtin"
    assert resolve_serving(None, hf_dir).engine == "vllm"


def test_configured_engine_and_launch_settings_are_taken_from_serving(gguf_dir: Path) -> None:
    serving = Serving(engine="llama-cpp", max_sequence_length=1024, max_batch_size=4)
    choice = resolve_serving(serving, gguf_dir)
    assert choice == ServingChoice(engine="llama-cpp", context_size=1024, max_batch_size=4)
    assert choice.spec.supports_streaming and choice.spec.supports_chat
    assert choice.spec.readiness_path == "/health"  # the wrapper's, outside the model lock


def test_configured_engine_that_cannot_load_the_artifact_is_refused(
    gguf_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(EngineFormatMismatch) as mismatch:
        resolve_serving(Serving(engine="builtin"), gguf_dir)
    assert mismatch.value.engine == "builtin"
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("not weights")
    with pytest.raises(NoEngineForArtifact):
        resolve_serving(None, tmp_path / "junk")


def test_recorded_choice_round_trips_and_old_deployments_are_builtin() -> None:
    choice = ServingChoice(engine="llama-cpp", context_size=512)
    meta = choice.metadata()
    assert meta == {ENGINE_KEY: "llama-cpp", "context_size": 512}
    assert serving_from_metadata(meta) == choice
    assert serving_from_metadata({"digest": "x"}) == ServingChoice(engine="builtin")
    with pytest.raises(ValidationError):
        serving_from_metadata({ENGINE_KEY: "tgi"})
    assert profile_for_engine("vllm").name == "vllm"
    assert profile_for_engine(choice.engine).name == "default"  # measured by the gateway


def test_revision_engine_is_validated_against_the_registry() -> None:
    base = dict(revision="r1", version="1", digest=DIGEST, artifact_uri="x", color="blue")
    assert RevisionSpec.model_validate({**base, "weight": 100}).engine == "builtin"
    with pytest.raises(ValidationError, match="not an engine"):
        RevisionSpec.model_validate({**base, "weight": 100, "engine": "tgi"})


def test_rollout_plan_carries_the_engine_into_the_new_revision() -> None:
    plan = RolloutPlan(
        env="production",
        model="m",
        version="1",
        digest=DIGEST,
        artifact_uri="x",
        strategy="blue-green",
        **ServingChoice(engine="llama-cpp", context_size=256).model_dump(),
    )
    assert (plan.engine, plan.context_size, plan.max_batch_size) == ("llama-cpp", 256, None)


def _rev(engine: str, **extra: object) -> RevisionSpec:
    return RevisionSpec.model_validate(
        dict(
            revision="r1",
            version="1.0.0",
            digest=DIGEST,
            artifact_uri="x",
            color="blue",
            weight=100,
            engine=engine,
            **extra,
        )
    )


def test_model_server_argv_goes_through_the_engine(
    tmp_path: Path, gguf_dir: Path, builtin_dir: Path
) -> None:
    cmds, layout = Commands(python="/py"), Layout(tmp_path)
    llama = cmds.model_server(
        layout, "staging", "m", _rev("llama-cpp", context_size=300), 9200, gguf_dir
    )
    assert llama[:3] == ["/py", "-m", LAUNCH_MODULE]
    assert llama[llama.index("--digest") + 1] == DIGEST
    assert llama[llama.index("--n_ctx") + 1] == "300"
    assert llama[llama.index("--port") + 1] == "9200"
    builtin = cmds.model_server(layout, "staging", "m", _rev("builtin"), 9201, builtin_dir)
    assert builtin[2] == "llm_platform.serving.model_server"
    assert builtin[builtin.index("--expected-digest") + 1] == DIGEST
    assert "--max-sequence-length" not in builtin  # the server's own default
    limited = cmds.model_server(
        layout, "staging", "m", _rev("builtin", context_size=512), 9201, builtin_dir
    )
    assert limited[limited.index("--max-sequence-length") + 1] == "512"


def test_vllm_deployment_is_refused_before_anything_starts(tmp_path: Path, hf_dir: Path) -> None:
    runtime = LocalRuntime(tmp_path / "home")
    digest = digest_directory(hf_dir).digest
    rev = _rev("vllm").model_copy(update={"digest": digest, "artifact_uri": hf_dir.as_uri()})
    with pytest.raises(EngineRefused) as refused:
        runtime.apply(DeploymentSpec(env="staging", model="m", revisions=[rev]))
    assert isinstance(refused.value.cause, EngineUnavailable)
    assert "no NVIDIA GPU" in str(refused.value)
    assert runtime.desired_spec("staging", "m") is None
    assert not list((tmp_path / "home").glob("runtime/pids/*"))


def test_engine_that_does_not_load_the_format_is_refused_at_apply(
    tmp_path: Path, builtin_dir: Path
) -> None:
    runtime = LocalRuntime(tmp_path / "home")
    digest = digest_directory(builtin_dir).digest
    rev = _rev("llama-cpp").model_copy(
        update={"digest": digest, "artifact_uri": builtin_dir.as_uri()}
    )
    with pytest.raises(EngineRefused) as refused:
        runtime.apply(DeploymentSpec(env="staging", model="m", revisions=[rev]))
    assert isinstance(refused.value.cause, EngineFormatMismatch)
    assert runtime.desired_spec("staging", "m") is None


def test_scrape_targets_follow_the_engines_metrics_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from llm_platform.serving.engines.llama_cpp import LlamaCppEngine
    from llm_platform.targets.local.prometheus import target_groups
    from llm_platform.targets.local.state import (
        DesiredDeployment,
        DesiredState,
        ObservedState,
        ProcessRecord,
        replica_key,
    )

    desired, observed = DesiredState(), ObservedState()
    for model, engine, port in (("a", "builtin", 9301), ("g", "llama-cpp", 9302)):
        rev = _rev(engine)
        desired.deployments[f"staging/{model}"] = DesiredDeployment(
            spec=DeploymentSpec(env="staging", model=model, revisions=[rev])
        )
        observed.revisions[replica_key("staging", model, rev.revision, 0)] = ProcessRecord(
            pid=1, port=port, starts=1, ever_healthy=True, healthy=True
        )
    models, _ = target_groups(desired, observed)
    both = [("a", ["127.0.0.1:9301"]), ("g", ["127.0.0.1:9302"])]
    assert sorted((g.labels["model"], g.targets) for g in models) == both
    # An engine without a metrics endpoint is no target (a scrape would be a false outage).
    monkeypatch.setattr(LlamaCppEngine, "metrics_path", None)
    models, _ = target_groups(desired, observed)
    assert [(g.labels["model"], g.targets) for g in models] == [("a", ["127.0.0.1:9301"])]


def test_replicas_are_health_checked_on_their_engines_readiness_path(tmp_path: Path) -> None:

    from llm_platform.targets.local.state import ObservedState, ProcessRecord
    from llm_platform.targets.local.supervision import Supervisor

    class OnlyWrapperHealth(QuietHandler):  # like our llama.cpp wrapper
        def do_GET(self) -> None:
            self.reply(200 if self.path == "/health" else 404)

    with LoopbackServer(OnlyWrapperHealth) as server:
        observed = ObservedState()
        for key, path in (("s/g/llama", get_engine("llama-cpp").readiness_path), ("s/g/b", None)):
            rec = ProcessRecord(pid=1, port=server.port)
            rec.health_path = path or "/v1/models"
            observed.revisions[key] = rec
        Supervisor(tmp_path).check_health(observed)
        assert observed.revisions["s/g/llama"].healthy
        assert not observed.revisions["s/g/b"].healthy  # "/v1/models" is a 404 there
