"""The local target: deployments as processes on this machine.

Desired state on disk (``state``), reconciled by ``controller``; replicas behind a gateway per
environment (``routing``, ``replicas``, ``supervision``); the embedded stack (Prometheus, gateways,
controller) behind ``llm-platform stack up|down|status`` (``stack``); ``target`` holds the
factories of the target's registry entry.
"""
