"""One table printer: left-aligned text columns, right-aligned figures; or Markdown."""
from __future__ import annotations

from collections.abc import Sequence


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], markdown: bool = False) -> str:
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in row] for row in rows]
    if markdown:
        escape = lambda v: v.replace("|", "\\|")  # noqa: E731
        lines = ["| " + " | ".join(escape(v) for v in cells[0]) + " |", "|" + "---|" * len(headers)]
        return "\n".join(lines + ["| " + " | ".join(escape(v) for v in r) + " |" for r in cells[1:]])
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(_numeric(r[i]) for r in cells[1:] if r[i]) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(row, widths, numeric)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _numeric(text: str) -> bool:
    head = text.split()[0].rstrip("x%").replace(",", "").replace("\u2013", "")
    try:
        float(head)
    except ValueError:
        return False
    return True


def fmt_time(seconds: float | None) -> str:
    """Seconds as ms (3 significant figures) or s."""
    if seconds is None:
        return ""
    ms = seconds * 1e3
    if ms >= 1000:
        return f"{seconds:.2f} s"
    return f"{ms:.3g} ms" if ms >= 1 else f"{ms:.3f} ms"


def fmt_ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"
