"""Render a results table as text, Markdown or LaTeX (header lines + a parameter table)."""

from __future__ import annotations

import textwrap

import pandas as pd

from estimation.errors import SpecificationError

FORMATS = ("text", "markdown", "latex")
#: Widest line of a text summary: it fits a terminal of 100 columns; long header values and
#: notes wrap, and the full tables go to the CSV files.
MAX_WIDTH = 100
_KEY, _VALUE = 22, 20


def parameter_table(res, alpha: float = 0.05) -> pd.DataFrame:
    """Estimate, std err, z (or t), p and CI per parameter: the CSV layout of every results
    object (``res`` has ``params``, ``bse``, ``tvalues``, ``pvalues`` and ``conf_int``)."""
    ci = res.conf_int(alpha)
    return pd.DataFrame({
        "estimate": res.params, "std_err": res.bse, "z": res.tvalues,
        "p_value": res.pvalues, "ci_low": ci["lower"], "ci_high": ci["upper"],
    })


def _text(title: str, header: list[tuple[str, str]], cells: pd.DataFrame,
          notes: list[str]) -> str:
    """The text box: short header values two to a line, long ones on their own wrapped lines,
    then the table and the wrapped notes; no line is wider than :data:`MAX_WIDTH`."""
    width = min(max(78, len(title)), MAX_WIDTH)
    lines = ["=" * width, textwrap.shorten(title, width).center(width), "=" * width]
    short = [(k, v) for k, v in header if len(v) <= _VALUE]
    long = [(k, v) for k, v in header if len(v) > _VALUE]
    half = (len(short) + 1) // 2
    left, right = short[:half], short[half:]
    for i in range(half):
        a = f"{left[i][0] + ':':<{_KEY}}{left[i][1]:>{_VALUE}}"
        b = f"{right[i][0] + ':':<{_KEY}}{right[i][1]:>{_VALUE}}" if i < len(right) else ""
        lines.append(f"{a}   {b}".rstrip())
    for k, v in long:
        lines += textwrap.wrap(v, MAX_WIDTH, initial_indent=f"{k + ':':<{_KEY}}",
                               subsequent_indent=" " * _KEY)
    lines.append("-" * width)
    lines.append(cells.to_string(line_width=MAX_WIDTH))
    lines.append("=" * width)
    for n in notes:
        lines += textwrap.wrap(f"Note: {n}", MAX_WIDTH, subsequent_indent="      ")
    return "\n".join(lines)


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
        return _text(title, header, cells, notes)
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
