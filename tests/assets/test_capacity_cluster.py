"""The production gate reads the cluster: production_deployment with the Kubernetes capacity
resource against kmock's emulated API server, everything else real (git, kfp.local, the
embedded stack serving staging and production)."""

from __future__ import annotations

import dagster as dg
import pytest

from assets.names import PRODUCTION_DEPLOYMENT, STAGING_DEPLOYMENT
from assets.production import production_deployment
from llm_platform.artifact_store import open_store
from llm_platform.promotion import Ledger
from resources.capacity import KubernetesCapacityResource
from tests.helpers.kube_emulator_fixtures import node, pod, running_cluster
from tests.helpers.promotion_fixtures import approve, make_platform, prepare_repo
from tests.helpers.signing_fixtures import make_signers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

STAGING = {"ops": {STAGING_DEPLOYMENT: {"config": {"load_requests": 24}}}}
PROMOTE = {"ops": {PRODUCTION_DEPLOYMENT: {"config": {"smoke_requests": 8}}}}


def test_production_gate_refuses_on_a_full_cluster_and_promotes_when_it_fits(
    models_repo, stack_home, tmp_path
):
    signers = make_signers(tmp_path / "keys")
    prepare_repo(models_repo, signers)
    with dg.instance_for_test() as instance, running_cluster() as cluster:
        instance.add_dynamic_partitions("models", ["alpha"])
        p = make_platform(models_repo, stack_home, instance, trusted_signers=signers.trust_root)
        staged = p.run("model_job", config=STAGING)
        assert staged.success, p.failure(staged)
        digest = staged.asset_materializations_for_node(STAGING_DEPLOYMENT)[0].metadata["digest"]
        approve(p.repo, signers, digest=str(digest.value), version="1.0.0", approver="alice")
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        core = cluster.core(kubeconfig)
        core.create_node(node("gpu-1", memory="64Gi", gpus=1))
        core.create_namespaced_pod(
            "team-a", pod("trainer", node_name="gpu-1", memory="60Gi", gpus=1, namespace="team-a")
        )
        resources = {
            **dict(p.defs.resources or {}),
            "capacity": KubernetesCapacityResource(kubeconfig=str(kubeconfig)),
        }

        def promote() -> dg.ExecuteInProcessResult:
            return dg.materialize(
                [production_deployment],
                instance=instance,
                partition_key="alpha",
                resources=resources,
                run_config=PROMOTE,
                raise_on_error=False,
            )

        refused = promote()
        assert not refused.success
        failure = p.failure(refused)
        assert "capacity: all nodes (no cluster.gpu_node_selector): 1 replica(s) of" in failure
        assert "closest node gpu-1 is short" in failure and "1 GPU" in failure
        ledger = Ledger(open_store(str(p.home / ("store-" + p.repo.path.parent.name))))
        history = ledger.history("alpha", env="production")
        assert [e.kind for e in history] == ["refused"]
        assert "closest node gpu-1" in history[0].reason
        # A node with room joins the pool: the same gate lets the promotion through.
        core.create_node(node("gpu-2", memory="128Gi", gpus=2))
        ok = promote()
        assert ok.success, p.failure(ok)
        gate = ok.asset_materializations_for_node(PRODUCTION_DEPLOYMENT)[0].metadata["gate"]
        assert "1 replica(s) placed on gpu-2" in gate.value
        assert [e.kind for e in ledger.history("alpha", env="production")] == [
            "promoted",
            "refused",
        ]
