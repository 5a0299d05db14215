"""What the headless demo prints about its runs, checks and ledger (plain data in, text out)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from rich.table import Table

from llm_platform.promotion import Ledger
from llm_platform.promotion.deployment_record import DeploymentRecord


def failure_text(message: str, cls_name: str | None, limit: int = 300) -> str:
    """A step's failure as a reader wants it: the message without the exception's module path
    (``dagster._core.definitions.events.Failure: promotion ... refused`` reads as the refusal)."""
    text = message.strip()
    if cls_name:
        text = re.sub(rf"^(?:[\w.]+\.)?{re.escape(cls_name)}: ", "", text)
    return text[:limit]


def quality_summary(check: str, meta: Mapping[str, object]) -> str:
    """One line on an output-quality check: its status and the kept, lost and gained cases."""
    return (
        f"  {check}: {meta.get('status')} — kept {meta.get('kept')}, "
        f"lost {meta.get('lost')}, gained {meta.get('gained')} "
        f"(production answers {'from the cache' if meta.get('baseline_cached') else 'asked'})"
    )


def lost_cases(meta: Mapping[str, object], limit: int = 4) -> list[str]:
    """The first lost cases of an output-quality check, one plain-text line each (its
    ``lost_cases`` table: | case | candidate | production | ...)."""
    lost = meta.get("lost_cases")
    if not isinstance(lost, str):
        return []
    lines = []
    for line in lost.splitlines()[2 : 2 + limit]:
        case, cand, prod = (c.strip() for c in line.strip("|").split(" | ")[:3])
        lines.append(f"    lost {case}: {cand} (production: {prod})")
    return lines


def standing_table(ledger: Ledger, staged: Mapping[str, DeploymentRecord | None]) -> Table:
    """Where every model stands: what staging deployed (``staged``: its latest deployment per
    model, None when there is none), what production serves, and the model's last ledger
    events."""
    table = Table(title="where every model stands")
    for col in ("model", "staging", "production", "last ledger events"):
        table.add_column(col)
    for m, st in staged.items():
        aliases = ledger.aliases(m)
        events = ", ".join(e.kind for e in ledger.history(m, limit=4))
        table.add_row(
            m,
            f"{st.version} {st.digest[:12]}" if st is not None else "- ",
            f"{aliases['production'].version} {aliases['production'].digest[:12]}"
            if "production" in aliases
            else "-",
            events or "-",
        )
    return table


def verdict_lines(expected: Iterable[tuple[str, bool]]) -> list[str]:
    """One line per expectation of the story: ``ok`` or ``FAIL`` and what was expected."""
    return [("[green]ok[/green]   " if ok else "[red]FAIL[/red] ") + what for what, ok in expected]
