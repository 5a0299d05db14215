"""The one engine name needed below the engine registry: ``builtin``, the bundled demo LM.

It is the engine of a revision that names none and of deployments recorded before engines
existed. A leaf module because the runtime interface (``targets/base.py``) defaults to it and
the engines package imports from ``targets``; :class:`~llm_platform.serving.engines.builtin.
BuiltinEngine` registers under this name.
"""

from __future__ import annotations

BUILTIN_ENGINE = "builtin"
