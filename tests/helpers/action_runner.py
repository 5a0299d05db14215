"""Run a composite GitHub Action's ``run:`` steps locally, the way the runner does.

Each ``run:`` step is executed as GitHub executes ``shell: bash`` (``bash --noprofile --norc -eo
pipefail <script>``) with ``GITHUB_OUTPUT``, ``RUNNER_TEMP`` and ``GITHUB_WORKSPACE`` set, its
``env:`` evaluated, and step outputs collected from ``GITHUB_OUTPUT``. ``if:`` conditions decide
which steps run (a failed step skips later steps whose condition does not override it).
``uses:`` steps cannot run offline: they are recorded with their evaluated ``with:`` inputs.

Only the expression syntax the project's action uses is understood (context lookups, string
literals, ``==``, ``!=``, ``&&``, ``||``, ``!cancelled()``, ``success()``, ``always()``);
anything else raises, so the action cannot drift past what this runner checks.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_INTERPOLATION = re.compile(r"\$\{\{(.*?)\}\}")
_CONTEXT_REF = re.compile(r"\b(inputs|github|steps|runner)((?:\.[A-Za-z0-9_-]+)+)")
_ALLOWED_LEFTOVER = re.compile(r"^[\s()']*$")


@dataclass
class StepRun:
    """What one step did."""

    name: str
    ran: bool
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    uses: str | None = None
    with_: dict[str, str] = field(default_factory=dict)


@dataclass
class ActionRun:
    """All steps of one run; ``failed`` is what GitHub would show for the action."""

    steps: list[StepRun]

    @property
    def failed(self) -> bool:
        return any(step.ran and step.exit_code not in (None, 0) for step in self.steps)

    def step(self, name_prefix: str) -> StepRun:
        matches = [s for s in self.steps if s.name.startswith(name_prefix)]
        assert len(matches) == 1, f"no single step named {name_prefix!r}: {self.steps}"
        return matches[0]


class _Context:
    def __init__(self, values: dict[str, str], steps: dict[str, dict[str, str]]) -> None:
        self.values = values
        self.steps = steps

    def lookup(self, ref: str) -> str:
        parts = ref.split(".")
        if parts[0] == "steps":
            if len(parts) != 4 or parts[2] != "outputs":
                raise ValueError(f"unsupported steps reference: {ref}")
            return self.steps.get(parts[1], {}).get(parts[3], "")
        if ref not in self.values:
            raise KeyError(f"expression names {ref!r}, which this runner does not provide")
        return self.values[ref]


def evaluate(expression: str, ctx: _Context, *, failed: bool) -> Any:
    """Evaluate one expression (without ``${{ }}``) of the supported subset."""
    refs: list[str] = []

    def _ref(match: re.Match[str]) -> str:
        refs.append(match.group(0))
        return f"_r[{len(refs) - 1}]"

    text = _CONTEXT_REF.sub(_ref, expression)
    text = text.replace("!cancelled()", "True").replace("always()", "True")
    text = text.replace("success()", str(not failed))
    text = text.replace("&&", " and ").replace("||", " or ")
    literals = re.sub(r"'[^']*'", "''", text)
    leftover = re.sub(r"_r\[\d+\]|\b(and|or|True|False)\b|==|!=", "", literals)
    if not _ALLOWED_LEFTOVER.match(leftover):
        raise ValueError(f"unsupported expression: {expression!r}")
    values = [ctx.lookup(ref) for ref in refs]
    return eval(text, {"__builtins__": {}}, {"_r": values})  # noqa: S307 - checked subset


def interpolate(value: object, ctx: _Context, *, failed: bool) -> str:
    """A string with every ``${{ expr }}`` replaced by its value."""
    return _INTERPOLATION.sub(lambda m: str(evaluate(m.group(1), ctx, failed=failed)), str(value))


def _condition(raw: object, ctx: _Context, *, failed: bool) -> bool:
    if raw is None:
        return not failed
    text = str(raw).strip()
    match = re.fullmatch(r"\$\{\{(.*)\}\}", text, flags=re.S)
    return bool(evaluate(match.group(1) if match else text, ctx, failed=failed))


def _read_outputs(path: Path) -> dict[str, str]:
    outputs: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "<<" in line or "=" not in line:
            raise ValueError(f"unsupported GITHUB_OUTPUT line: {line!r}")
        key, _, value = line.partition("=")
        outputs[key] = value
    return outputs


def run_action(
    action_file: Path,
    *,
    workspace: Path,
    runner_temp: Path,
    inputs: dict[str, str],
    env: dict[str, str] | None = None,
    timeout_s: float = 240.0,
) -> ActionRun:
    """Run the action's steps in ``workspace`` (the checkout) and report every step."""
    action = yaml.safe_load(action_file.read_text(encoding="utf-8"))
    declared = action.get("inputs") or {}
    unknown = set(inputs) - set(declared)
    assert not unknown, f"inputs not declared by the action: {unknown}"
    values = {f"inputs.{k}": str(v.get("default", "")) for k, v in declared.items()}
    values.update({f"inputs.{k}": v for k, v in inputs.items()})
    values["github.action_path"] = str(action_file.parent)
    values["github.workspace"] = str(workspace)
    values["runner.temp"] = str(runner_temp)
    steps_outputs: dict[str, dict[str, str]] = {}
    ctx = _Context(values, steps_outputs)
    failed = False
    runs: list[StepRun] = []
    for index, step in enumerate(action["runs"]["steps"]):
        name = step.get("name") or f"step {index}"
        if not _condition(step.get("if"), ctx, failed=failed):
            runs.append(StepRun(name=name, ran=False))
            continue
        if "uses" in step:
            with_ = {k: interpolate(v, ctx, failed=failed) for k, v in step.get("with", {}).items()}
            runs.append(StepRun(name=name, ran=False, uses=step["uses"], with_=with_))
            continue
        assert step.get("shell") == "bash", f"{name}: only shell: bash is supported"
        output_file = runner_temp / f"output-{index}"
        output_file.write_text("", encoding="utf-8")
        script = runner_temp / f"step-{index}.sh"
        script.write_text(step["run"], encoding="utf-8")
        step_env = {
            **os.environ,
            **(env or {}),
            "GITHUB_OUTPUT": str(output_file),
            "GITHUB_WORKSPACE": str(workspace),
            "RUNNER_TEMP": str(runner_temp),
            "GITHUB_ACTIONS": "true",
        }
        step_env.update(
            {k: interpolate(v, ctx, failed=failed) for k, v in (step.get("env") or {}).items()}
        )
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        outputs = _read_outputs(output_file)
        if "id" in step:
            steps_outputs[step["id"]] = outputs
        runs.append(
            StepRun(
                name=name,
                ran=True,
                exit_code=proc.returncode,
                stdout=proc.stdout,
                stderr=proc.stderr,
                outputs=outputs,
            )
        )
        failed = failed or proc.returncode != 0
    return ActionRun(steps=runs)
