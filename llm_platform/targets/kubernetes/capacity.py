"""Cluster capacity: Kubernetes quantities, free resources per node, and replica placement.

Pure functions over plain dicts shaped like Kubernetes ``Node`` / ``Pod`` JSON (camelCase), or
the snake_case dicts that the ``kubernetes`` client's ``.to_dict()`` returns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict

GPU = "nvidia.com/gpu"
_QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>[eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BLOCKING_EFFECTS = {"NoSchedule", "NoExecute"}
_DONE_PHASES = {"Succeeded", "Failed"}


class QuantityError(ValueError):
    """A string is not a Kubernetes resource quantity."""


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """Parse a Kubernetes quantity (``"15923Mi"``, ``"2000m"``, ``"1e9"``, ``"16Gi"``, ``4``).

    Args:
        value: The quantity; numbers are taken as plain values.

    Returns:
        The exact value in base units (bytes, cores, devices).

    Raises:
        QuantityError: When ``value`` is not a valid quantity (the message quotes it).
    """
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a Kubernetes quantity")
    if isinstance(value, int | float | Decimal):
        try:
            number = Decimal(str(value))
        except InvalidOperation as exc:
            raise QuantityError(f"{value!r} is not a Kubernetes quantity") from exc
        if not number.is_finite():
            raise QuantityError(f"{value!r} is not a finite Kubernetes quantity")
        return number
    if not isinstance(value, str):
        raise QuantityError(f"{value!r} ({type(value).__name__}) is not a Kubernetes quantity")
    match = _QUANTITY.match(value.strip())
    if not match:
        raise QuantityError(
            f"{value!r} is not a Kubernetes quantity (expected e.g. 16Gi, 15923Mi, 2000m, 1e9)"
        )
    number, suffix = Decimal(match["num"]), match["suffix"] or ""
    if suffix in _BINARY:
        return number * (Decimal(1024) ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix])
    if suffix:
        return number.scaleb(int(suffix[1:]))
    return number


def _get(obj: Mapping[str, Any] | None, *keys: str) -> Any:
    """First present key of ``obj`` (camelCase or snake_case spelling), else None."""
    if not obj:
        return None
    for key in keys:
        if key in obj and obj[key] is not None:
            return obj[key]
    return None


def _requests(container: Mapping[str, Any]) -> dict[str, Decimal]:
    requests = _get(_get(container, "resources") or {}, "requests") or {}
    return {name: parse_quantity(q) for name, q in requests.items()}


def _add(total: dict[str, Decimal], extra: Mapping[str, Decimal]) -> dict[str, Decimal]:
    out = dict(total)
    for name, amount in extra.items():
        out[name] = out.get(name, Decimal(0)) + amount
    return out


def pod_requests(pod: Mapping[str, Any]) -> dict[str, Decimal]:
    """Effective resource requests of a pod, as the Kubernetes scheduler counts them.

    Per resource: max(sum of app containers + sidecars, the largest init container plus the
    sidecars started before it), plus the pod overhead. Sidecars are init containers with
    ``restartPolicy: Always``.
    """
    spec = _get(pod, "spec") or {}
    total: dict[str, Decimal] = {}
    for container in _get(spec, "containers") or []:
        total = _add(total, _requests(container))
    sidecars: dict[str, Decimal] = {}
    init_peak: dict[str, Decimal] = {}
    for container in _get(spec, "initContainers", "init_containers") or []:
        own = _requests(container)
        if _get(container, "restartPolicy", "restart_policy") == "Always":
            sidecars = _add(sidecars, own)
            candidate = sidecars
        else:
            candidate = _add(sidecars, own)
        for name, amount in candidate.items():
            init_peak[name] = max(init_peak.get(name, Decimal(0)), amount)
    total = _add(total, sidecars)
    for name, amount in init_peak.items():
        total[name] = max(total.get(name, Decimal(0)), amount)
    overhead = _get(spec, "overhead") or {}
    return _add(total, {name: parse_quantity(q) for name, q in overhead.items()})


def _name(obj: Mapping[str, Any]) -> str:
    return str(_get(_get(obj, "metadata") or {}, "name") or "")


def node_free(node: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> dict[str, Decimal]:
    """Allocatable resources of ``node`` minus the requests of the pods running on it.

    Pods count when ``spec.nodeName`` is this node and their phase is not Succeeded/Failed.

    Returns:
        Free amount per resource name (``cpu``, ``memory``, ``nvidia.com/gpu``, ...).
    """
    allocatable = _get(_get(node, "status") or {}, "allocatable") or {}
    free = {name: parse_quantity(q) for name, q in allocatable.items()}
    name = _name(node)
    for pod in pods:
        if _get(_get(pod, "spec") or {}, "nodeName", "node_name") != name:
            continue
        if _get(_get(pod, "status") or {}, "phase") in _DONE_PHASES:
            continue
        for resource, amount in pod_requests(pod).items():
            free[resource] = free.get(resource, Decimal(0)) - amount
    return free


def tolerates(taint: Mapping[str, Any], tolerations: Sequence[Mapping[str, Any]]) -> bool:
    """Whether any toleration matches ``taint`` (Kubernetes matching rules)."""
    for tol in tolerations:
        effect = _get(tol, "effect")
        if effect and effect != _get(taint, "effect"):
            continue
        operator = _get(tol, "operator") or "Equal"
        key = _get(tol, "key")
        if operator == "Exists":
            if not key or key == _get(taint, "key"):
                return True
        elif key == _get(taint, "key") and (_get(tol, "value") or "") == (
            _get(taint, "value") or ""
        ):
            return True
    return False


def _ineligible(
    node: Mapping[str, Any], node_selector: Mapping[str, str], tolerations: Sequence[Any]
) -> str | None:
    """Why no replica may be scheduled on ``node`` at all, or None."""
    spec = _get(node, "spec") or {}
    if _get(spec, "unschedulable"):
        return "cordoned (unschedulable)"
    for condition in _get(_get(node, "status") or {}, "conditions") or []:
        if _get(condition, "type") == "Ready" and _get(condition, "status") != "True":
            return "not Ready"
    labels = _get(_get(node, "metadata") or {}, "labels") or {}
    for key, value in node_selector.items():
        if labels.get(key) != value:
            return f"nodeSelector {key}={value} not matched (node has {labels.get(key)!r})"
    for taint in _get(spec, "taints") or []:
        effect = _get(taint, "effect")
        if effect in _BLOCKING_EFFECTS and not tolerates(taint, tolerations):
            return f"taint {_get(taint, 'key')}={_get(taint, 'value') or ''}:{effect} not tolerated"
    return None


def _closest(
    free_by_node: Mapping[str, Mapping[str, Decimal]], need: Mapping[str, Decimal]
) -> tuple[str | None, dict[str, Decimal]]:
    """The eligible node missing the least (fewest short resources, then fewest GPUs, then
    least memory, then least CPU), and what it misses; the whole need when none is eligible."""
    wanted = {r: amount for r, amount in need.items() if amount}
    if not free_by_node:
        return None, wanted

    def deficit(name: str) -> dict[str, Decimal]:
        free = free_by_node[name]
        return {
            r: amount - free.get(r, Decimal(0))
            for r, amount in wanted.items()
            if free.get(r, Decimal(0)) < amount
        }

    def rank(name: str) -> tuple[Any, ...]:
        short = deficit(name)
        zero = Decimal(0)
        return (
            len(short),
            short.get(GPU, zero),
            short.get("memory", zero),
            short.get("cpu", zero),
            name,
        )

    best = min(free_by_node, key=rank)
    return best, deficit(best)


class CapacityVerdict(BaseModel):
    """Whether all replicas fit, where they go, and what every node offered."""

    model_config = ConfigDict(frozen=True)

    fits: bool
    placements: list[str]
    reason: str
    per_node: list[dict[str, Any]]
    #: When a replica does not fit: the eligible node that came closest (None when no node is
    #: eligible) and what it lacks per resource (the whole request when no node is eligible).
    closest_node: str | None = None
    shortfall: dict[str, Decimal] = {}


def check_fit(
    nodes: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    *,
    replicas: int,
    memory_bytes: int | str | Decimal,
    gpus: int,
    cpu: int | str | Decimal | None = None,
    node_selector: Mapping[str, str] | None = None,
    tolerations: Sequence[Mapping[str, Any]] | None = None,
) -> CapacityVerdict:
    """Place ``replicas`` identical replicas greedily on the nodes' free resources.

    Every replica's memory, CPU and GPUs must fit on ONE node (GPUs are never split across
    nodes). Nodes that are cordoned, not Ready, miss a ``node_selector`` label or carry a
    NoSchedule/NoExecute taint without a matching toleration are skipped
    (PreferNoSchedule is fine). Each replica goes to the eligible node with the most free
    memory that fits it (ties: node name), so replicas spread.

    Args:
        nodes: Node objects.
        pods: Pod objects of the whole cluster (their ``spec.nodeName`` says where they run).
        replicas: Number of replicas to place.
        memory_bytes: Memory request per replica (bytes, or a quantity such as ``"16Gi"``).
        gpus: ``nvidia.com/gpu`` per replica.
        cpu: CPU request per replica (cores or a quantity such as ``"2000m"``), if any.
        node_selector: Labels a node must carry.
        tolerations: The replicas' tolerations.

    Returns:
        The verdict with one placement (node name) per replica when everything fits.
    """
    if replicas < 1:
        raise ValueError(f"replicas must be >= 1, got {replicas}")
    need = {"memory": parse_quantity(memory_bytes), GPU: Decimal(gpus)}
    if cpu is not None:
        need["cpu"] = parse_quantity(cpu)
    selector, tols = dict(node_selector or {}), list(tolerations or [])
    free_by_node: dict[str, dict[str, Decimal]] = {}
    per_node: list[dict[str, Any]] = []
    # Each pod is looked at once, not once per node: a cluster's pods outnumber its nodes.
    pods_by_node: dict[str, list[Mapping[str, Any]]] = {}
    for pod in pods:
        bound = _get(_get(pod, "spec") or {}, "nodeName", "node_name")
        if bound:
            pods_by_node.setdefault(str(bound), []).append(pod)
    for node in sorted(nodes, key=_name):
        name = _name(node)
        free = node_free(node, pods_by_node.get(name, []))
        why = _ineligible(node, selector, tols)
        per_node.append(
            {
                "node": name,
                "eligible": why is None,
                "reason": why or "eligible",
                "free": {r: str(free.get(r, Decimal(0))) for r in ("cpu", "memory", GPU)},
                "replicas": 0,
            }
        )
        if why is None:
            free_by_node[name] = free
    placements: list[str] = []
    for index in range(replicas):
        fitting = [
            name
            for name, free in free_by_node.items()
            if all(free.get(r, Decimal(0)) >= amount for r, amount in need.items() if amount)
        ]
        if not fitting:
            wanted = ", ".join(f"{r}={amount}" for r, amount in need.items() if amount)
            reason = (
                f"replica {index + 1} of {replicas} does not fit: no eligible node has {wanted} "
                f"free ({len(free_by_node)} of {len(per_node)} nodes eligible)"
            )
            closest, short = _closest(free_by_node, need)
            return CapacityVerdict(
                fits=False,
                placements=placements,
                reason=reason,
                per_node=per_node,
                closest_node=closest,
                shortfall=short,
            )
        # max() keeps the first of equal candidates, and nodes are in name order.
        best = max(fitting, key=lambda n: free_by_node[n].get("memory", Decimal(0)))
        for resource, amount in need.items():
            free_by_node[best][resource] = free_by_node[best].get(resource, Decimal(0)) - amount
        placements.append(best)
        next(row for row in per_node if row["node"] == best)["replicas"] += 1
    return CapacityVerdict(
        fits=True,
        placements=placements,
        reason=f"{replicas} replica(s) placed on {', '.join(sorted(set(placements)))}",
        per_node=per_node,
    )
