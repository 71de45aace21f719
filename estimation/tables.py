"""Render a results table as text, Markdown or LaTeX (header lines + a parameter table)."""

from __future__ import annotations

import pandas as pd

from estimation.errors import SpecificationError

FORMATS = ("text", "markdown", "latex")


def _fmt(x) -> str:
    if isinstance(x, str):
        return x
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return str(x)
    if xf != xf:
        return "nan"
    if xf == 0 or 1e-4 <= abs(xf) < 1e6:
        return f"{xf:.6g}" if abs(xf) >= 1 else f"{xf:.4g}"
    return f"{xf:.4e}"


def render(title: str, header: list[tuple[str, str]], table: pd.DataFrame, fmt: str = "text",
           notes: list[str] | None = None) -> str:
    """One results box: ``header`` key/value pairs, then ``table`` (index = parameter names)."""
    if fmt not in FORMATS:
        raise SpecificationError(f"format must be one of {FORMATS}, got {fmt!r}")
    notes = notes or []
    cells = table.map(_fmt)
    if fmt == "text":
        width = max(78, len(title))
        lines = ["=" * width, title.center(width), "=" * width]
        half = (len(header) + 1) // 2
        left, right = header[:half], header[half:]
        for i in range(half):
            a = f"{left[i][0] + ':':<22}{left[i][1]:>16}"
            b = f"{right[i][0] + ':':<22}{right[i][1]:>16}" if i < len(right) else ""
            lines.append(f"{a}   {b}".rstrip())
        lines.append("-" * width)
        lines.append(cells.to_string())
        lines.append("=" * width)
        lines += [f"Note: {n}" for n in notes]
        return "\n".join(lines)
    if fmt == "markdown":

        def md(s) -> str:
            # A bare | (as in P>|z|) would split the cell.
            return str(s).replace("|", r"\|")

        lines = [f"**{title}**", "", "| | |", "|---|---|"]
        lines += [f"| {md(k)} | {md(v)} |" for k, v in header]
        lines += ["", "| | " + " | ".join(md(c) for c in cells.columns) + " |",
                  "|---" * (len(cells.columns) + 1) + "|"]
        for idx, row in cells.iterrows():
            lines.append(f"| {md(idx)} | " + " | ".join(md(v) for v in row) + " |")
        lines += [""] + [f"*Note:* {n}" for n in notes]
        return "\n".join(lines).rstrip() + "\n"

    def tex(s: str) -> str:
        return (str(s).replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("%", r"\%")
                .replace("&", r"\&").replace("#", r"\#").replace("|", r"$|$"))

    cols = "l" + "r" * len(cells.columns)
    lines = [r"\begin{table}[ht]", r"\centering", f"\\caption{{{tex(title)}}}",
             f"\\begin{{tabular}}{{{cols}}}", r"\hline",
             " & " + " & ".join(tex(c) for c in cells.columns) + r" \\", r"\hline"]
    for idx, row in cells.iterrows():
        lines.append(tex(idx) + " & " + " & ".join(tex(v) for v in row) + r" \\")
    lines += [r"\hline"]
    for k, v in header:
        lines.append(f"\\multicolumn{{{len(cells.columns) + 1}}}{{l}}{{{tex(k)}: {tex(v)}}} \\\\")
    lines += [r"\hline", r"\end{tabular}"]
    lines += [f"\\par\\footnotesize {tex(n)}" for n in notes]
    lines += [r"\end{table}"]
    return "\n".join(lines)
