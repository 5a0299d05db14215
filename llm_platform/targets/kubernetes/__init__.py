"""The Kubernetes target: pure manifest rendering (``render``) and the client runtime.

Rendering (``placement``, ``names``, ``pods``, ``kserve``, ``workloads``, ``render``) turns a
:class:`~llm_platform.targets.base.DeploymentSpec` plus the environment's and model's settings
into plain manifest dicts; nothing there talks to a cluster. ``apply`` and ``runtime`` send
them through the official ``kubernetes`` client (``api``: the connection and the one error type,
:class:`~llm_platform.targets.kubernetes.api.KubernetesApiError`). ``capacity_source`` reads
nodes and pods for the capacity gate, ``prometheus`` finds the cluster's Prometheus,
``kubeconfigs`` says which kubeconfig reaches which environment; ``target`` holds the factories
of the target's registry entry.
"""
