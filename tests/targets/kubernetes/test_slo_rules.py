"""The Kubernetes runtime applies each model's SLO ``PrometheusRule`` with the workload and
deletes it with the deployment (kmock's emulated API server, the production code path)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_platform.targets.base import DeploymentSpec, RevisionSpec
from llm_platform.targets.kubernetes import names
from llm_platform.targets.kubernetes.apply import PLURALS, Cluster, RbacDenied
from llm_platform.targets.kubernetes.context import CheckoutPlacements
from llm_platform.targets.kubernetes.runtime import KubernetesRuntime
from tests.helpers.k8s_fixtures import MODEL, register_gguf, write_checkout
from tests.helpers.k8s_schemas import validate_manifest
from tests.helpers.kmock_fixtures import Fault, kube_server

RULES = PLURALS["PrometheusRule"]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with kube_server() as server:
        root = write_checkout(tmp_path / "repo")
        record = register_gguf(tmp_path / "store", tmp_path)
        rt = KubernetesRuntime(Cluster(server.api(), backoff_s=0.01), CheckoutPlacements(root))
        spec = DeploymentSpec(
            env="staging",
            model=MODEL,
            revisions=[
                RevisionSpec(
                    revision="ra",
                    version=record.version,
                    digest=record.digest,
                    artifact_uri=record.artifact_uri,
                    color="blue",
                    weight=100,
                    engine="llama-cpp",
                )
            ],
        )
        yield {"rt": rt, "server": server, "spec": spec}


def test_the_rule_is_applied_with_the_workload_and_deleted_with_it(
    setup: dict[str, Any],
) -> None:
    rt, server = setup["rt"], setup["server"]
    rt.apply(setup["spec"])
    (rule,) = server.objects(RULES)
    assert rule["metadata"]["labels"] == names.model_labels("staging", MODEL)
    validate_manifest({k: rule[k] for k in ("apiVersion", "kind", "spec")} | {
        "metadata": {"name": rule["metadata"]["name"], "namespace": rule["metadata"]["namespace"]}
    })  # fmt: skip
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert alerts and all(f'model="{MODEL}"' in a["expr"] for a in alerts)
    rt.apply(setup["spec"])  # applying again keeps one object
    assert len(server.objects(RULES)) == 1
    rt.delete("staging", MODEL)
    assert server.objects(RULES) == []
    assert server.objects("inferenceservices") == []


def test_a_cluster_without_the_crd_still_deploys_but_rbac_refusal_raises(
    setup: dict[str, Any],
) -> None:
    rt, server = setup["rt"], setup["server"]
    server.faults.append(Fault("PATCH", f"/{RULES}/", 404, times=1))
    rt.apply(setup["spec"])
    assert server.objects(RULES) == [] and len(server.objects("inferenceservices")) == 1
    server.faults.append(Fault("PATCH", f"/{RULES}/", 403, times=1))
    with pytest.raises(RbacDenied, match="prometheusrules"):
        rt.apply(setup["spec"])
