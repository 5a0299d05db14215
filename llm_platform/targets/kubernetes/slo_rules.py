"""A model's SLO rules as a prometheus-operator ``PrometheusRule`` (``monitoring.coreos.com/v1``).

The rule groups are :func:`llm_platform.slo.rules.generate_rules` for the one model (every rule
selects it, with its effective thresholds), carried by the :class:`Placement`; the object lives
in the model's namespace with the model's labels, so the runtime applies it with the workload
and deletes it with the deployment. A Prometheus selects it through its ``ruleSelector`` /
``ruleNamespaceSelector`` (e.g. ``app.kubernetes.io/managed-by: llm-platform``).
"""

from __future__ import annotations

from typing import Any

from llm_platform.targets.base import DeploymentSpec
from llm_platform.targets.kubernetes import names
from llm_platform.targets.kubernetes.placement import Placement

PROMETHEUS_RULE_API_VERSION = "monitoring.coreos.com/v1"
PROMETHEUS_RULE_KIND = "PrometheusRule"


def prometheus_rule(spec: DeploymentSpec, placement: Placement) -> dict[str, Any] | None:
    """The model's ``PrometheusRule`` (None: the placement carries no rules)."""
    if not placement.slo_rules:
        return None
    return {
        "apiVersion": PROMETHEUS_RULE_API_VERSION,
        "kind": PROMETHEUS_RULE_KIND,
        "metadata": {
            "name": names.object_name(spec.model, "slo"),
            "namespace": placement.namespace,
            "labels": names.model_labels(spec.env, spec.model),
        },
        "spec": {"groups": [dict(g) for g in placement.slo_rules]},
    }
