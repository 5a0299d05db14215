"""``reports_commit_status``: an asset body that fails after announcing its commit reports
``error`` to that commit instead of leaving its status ``pending`` forever.

Put it under ``@dg.asset`` of a function that takes ``github: CommitStatusResource``; the body
calls ``github.start(...)`` once it knows the commit and ``github.report(...)`` with its verdict.
The wrapper keeps the function's signature (Dagster reads parameters through ``__wrapped__``)
and its kind (a generator stays a generator).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from llm_platform.reporting.stages import Stage
from resources.github import CommitStatusResource

#: The parameter name the decorated asset uses for the resource.
RESOURCE_PARAM = "github"

F = TypeVar("F", bound=Callable[..., Any])


def _resource(kwargs: dict[str, Any]) -> CommitStatusResource:
    resource = kwargs.get(RESOURCE_PARAM)
    if not isinstance(resource, CommitStatusResource):
        raise TypeError(
            f"reports_commit_status needs a {RESOURCE_PARAM}: CommitStatusResource parameter"
        )
    return resource


def reports_commit_status(stage: Stage) -> Callable[[F], F]:
    """Wrap an asset body of ``stage`` (see the module docstring)."""

    def decorate(fn: F) -> F:
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def generator(context: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
                github = _resource(kwargs)
                github.begin_scope(stage)
                try:
                    yield from fn(context, *args, **kwargs)
                except BaseException as exc:
                    github.end_scope(context, exc)
                    raise
                github.end_scope(context, None)

            return generator  # type: ignore[return-value]

        @functools.wraps(fn)
        def function(context: Any, *args: Any, **kwargs: Any) -> Any:
            github = _resource(kwargs)
            github.begin_scope(stage)
            try:
                result = fn(context, *args, **kwargs)
            except BaseException as exc:
                github.end_scope(context, exc)
                raise
            github.end_scope(context, None)
            return result

        return function  # type: ignore[return-value]

    return decorate
