"""The one engine name needed below the engine registry: ``builtin``, the bundled demo LM.

It is the engine of a revision that names none and of deployments recorded before engines
existed. A leaf module, so that the runtime interface (``targets/base.py``, which the engines
package imports from) can default to it; :class:`~llm_platform.serving.engines.builtin.
BuiltinEngine` registers under this name.
"""

from __future__ import annotations

BUILTIN_ENGINE = "builtin"
