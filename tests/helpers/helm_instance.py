"""The instance ``dagster.yaml`` the Dagster chart renders from Helm values (no Helm here).

Mirrors the chart's ``configmap-instance.yaml`` and its ``helpers/instance/*.tpl`` for the
sections deploy/helm/values.yaml sets: PostgreSQL storage, ``K8sRunLauncher``, the
``QueuedRunCoordinator``, telemetry. Anything else in the values is refused, so the mirror
cannot silently fall behind what the values configure.
"""

from __future__ import annotations

from typing import Any

DEFAULT_DAGSTER_HOME = "/opt/dagster/dagster_home"
RELEASE = "llm-platform"
CHART_NAME = "dagster"


def _postgres(values: dict[str, Any]) -> dict[str, Any]:
    pg = values["postgresql"]
    if pg.get("enabled"):
        raise ValueError("the mirror renders an external PostgreSQL only (postgresql.enabled)")
    db = {
        "username": pg["postgresqlUsername"],
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": pg["postgresqlHost"],
        "db_name": pg["postgresqlDatabase"],
        "port": pg["service"]["port"],
        "params": pg.get("postgresqlParams") or {},
    }
    if pg.get("postgresqlScheme"):
        db["scheme"] = pg["postgresqlScheme"]
    return {"postgres_db": db}


def _run_launcher(values: dict[str, Any], namespace: str) -> dict[str, Any]:
    launcher = values["runLauncher"]
    if launcher["type"] != "K8sRunLauncher":
        raise ValueError(f"the mirror renders K8sRunLauncher only, not {launcher['type']}")
    k8s = launcher["config"]["k8sRunLauncher"]
    glob = values.get("global") or {}
    account = glob.get("serviceAccountName") or values["serviceAccount"]["name"]
    config: dict[str, Any] = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": k8s.get("jobNamespace") or namespace,
        "image_pull_policy": k8s["imagePullPolicy"],
        "service_account_name": account,
        "dagster_home": glob.get("dagsterHome") or DEFAULT_DAGSTER_HOME,
        "instance_config_map": f"{RELEASE}-{CHART_NAME}-instance",
        "postgres_password_secret": glob["postgresqlSecretName"],
    }
    if k8s.get("kubeconfigFile"):
        config["kubeconfig_file"] = k8s["kubeconfigFile"]
    names = {"envConfigMaps": "env_config_maps", "envSecrets": "env_secrets"}
    for key, field in names.items():
        if k8s.get(key):
            config[field] = [ref["name"] for ref in k8s[key] if "name" in ref]
    plain = {
        "envVars": "env_vars",
        "volumeMounts": "volume_mounts",
        "volumes": "volumes",
        "labels": "labels",
        "resources": "resources",
        "securityContext": "security_context",
    }
    for key, field in plain.items():
        if k8s.get(key):
            config[field] = k8s[key]
    if k8s.get("failPodOnRunFailure"):
        config["fail_pod_on_run_failure"] = True
    if k8s.get("schedulerName"):
        config["scheduler_name"] = k8s["schedulerName"]
    if k8s.get("runK8sConfig"):
        raise ValueError("the mirror does not render runLauncher...runK8sConfig")
    return {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": config}


def _run_coordinator(values: dict[str, Any]) -> dict[str, Any]:
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    if coordinator["type"] != "QueuedRunCoordinator":
        raise ValueError(f"the mirror renders QueuedRunCoordinator only, not {coordinator['type']}")
    queued = coordinator["config"]["queuedRunCoordinator"]
    config: dict[str, Any] = {"max_concurrent_runs": queued.get("maxConcurrentRuns", -1)}
    if queued.get("tagConcurrencyLimits"):
        config["tag_concurrency_limits"] = queued["tagConcurrencyLimits"]
    if queued.get("dequeueIntervalSeconds"):
        config["dequeue_interval_seconds"] = queued["dequeueIntervalSeconds"]
    return {
        "module": "dagster.core.run_coordinator",
        "class": "QueuedRunCoordinator",
        "config": config,
    }


def instance_from_helm_values(values: dict[str, Any], *, namespace: str) -> dict[str, Any]:
    """The instance config the chart would put in its ``<release>-dagster-instance`` ConfigMap."""
    storage = _postgres(values)
    instance: dict[str, Any] = {
        "scheduler": {"module": "dagster.core.scheduler", "class": "DagsterDaemonScheduler"},
        "schedule_storage": {
            "module": "dagster_postgres.schedule_storage",
            "class": "PostgresScheduleStorage",
            "config": storage,
        },
        "run_launcher": _run_launcher(values, namespace),
        "run_storage": {
            "module": "dagster_postgres.run_storage",
            "class": "PostgresRunStorage",
            "config": storage,
        },
        "event_log_storage": {
            "module": "dagster_postgres.event_log",
            "class": "PostgresEventLogStorage",
            "config": storage,
        },
        "telemetry": {"enabled": values.get("telemetry", {}).get("enabled", True)},
    }
    daemon = values.get("dagsterDaemon") or {}
    if daemon.get("enabled", True) and daemon.get("runCoordinator", {}).get("enabled"):
        instance["run_coordinator"] = _run_coordinator(values)
    return instance
