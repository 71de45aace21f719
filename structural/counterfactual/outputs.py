"""Rendering of counterfactual tables: CSV, Markdown, LaTeX and JSON."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["to_latex", "to_markdown", "write_csv", "write_table"]


def _fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
        if math.isnan(v):
            return "—"
        if math.isinf(v):
            return "unreachable" if v > 0 else "-inf"
        if v == 0:
            return "0"
        a = abs(v)
        return f"{v:.4g}" if 1e-3 <= a < 1e5 else f"{v:.3e}"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    return str(v)


def _cells(df: pd.DataFrame) -> list[list[str]]:
    """Every body cell formatted by :func:`_fmt`, row by row.

    The values are those ``df.iterrows()`` hands out (``df.values``: a frame of numbers only is
    one float array, so its integers print as floats), read in one ``tolist`` instead of a Series
    per row (the Series cost 100x the formatting on a thousand-row table). ``tolist`` gives
    Python floats, ints and bools for numeric arrays, which :func:`_fmt` prints as it prints
    their NumPy scalars; other arrays (datetimes, whose rows iterrows turns into Timestamps) and
    repeated column names take the rows as iterrows gives them.
    """
    vals = df.values
    if vals.dtype.kind in "fiubO" and df.columns.is_unique:
        return [[_fmt(v) for v in row] for row in vals.tolist()]
    cols = list(df.columns)
    return [[_fmt(row[c]) for c in cols] for _, row in df.iterrows()]


def to_markdown(df: pd.DataFrame, cells: list[list[str]] | None = None) -> str:
    """A GitHub-flavoured Markdown table (no optional dependency).

    Examples
    --------
    >>> import pandas as pd
    >>> from structural.counterfactual.outputs import to_markdown
    >>> print(to_markdown(pd.DataFrame({"hypothesis": ["a", "b"], "cost": [1.5, 2.25]})))
    | hypothesis | cost |
    |---|---|
    | a | 1.5 |
    | b | 2.25 |

    ``cells``: :func:`_cells` of ``df`` where the caller has them already.
    """
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in (_cells(df) if cells is None else cells)]
    return "\n".join(lines) + "\n"


#: The characters :func:`_tex_escape` replaces: a cell without any (most numbers) is left as is.
_TEX_SPECIAL = re.compile("[\\\\&%_#$×→*—]")


def _tex_escape(s: str) -> str:
    if _TEX_SPECIAL.search(s) is None:
        return s
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                 ("#", r"\#"), ("$", r"\$"), ("×", r"$\times$"), ("→", r"$\to$"),
                 ("*", r"$^*$"), ("—", "--")):
        s = s.replace(a, b)
    return s


def to_latex(df: pd.DataFrame, caption: str = "", cells: list[list[str]] | None = None) -> str:
    r"""A booktabs LaTeX table.

    Examples
    --------
    >>> import pandas as pd
    >>> from structural.counterfactual.outputs import to_latex
    >>> print(to_latex(pd.DataFrame({"hypothesis": ["a"], "cost": [1.5]}), caption="Costs"))
    \begin{table}[ht]
    \centering
    \begin{tabular}{ll}
    \toprule
    hypothesis & cost \\
    \midrule
    a & 1.5 \\
    \bottomrule
    \end{tabular}
    \caption{Costs}
    \end{table}

    ``cells``: :func:`_cells` of ``df`` where the caller has them already.
    """
    cols = list(df.columns)
    out = [r"\begin{table}[ht]", r"\centering", r"\begin{tabular}{" + "l" * len(cols) + "}",
           r"\toprule", " & ".join(_tex_escape(str(c)) for c in cols) + r" \\", r"\midrule"]
    out += [" & ".join(_tex_escape(v) for v in row) + r" \\"
            for row in (_cells(df) if cells is None else cells)]
    out += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        out.append(r"\caption{" + _tex_escape(caption) + "}")
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` as ``df.to_csv(path, index=False)`` would, byte for byte, faster.

    A long table (``fit llm_demand``'s elasticities, every pair of products in every week,
    175,000 rows) took half a CPU second through pandas, most of it formatting floats with NumPy
    and datetimes row by row.
    Here a float is Python's shortest round-trip ``repr`` (what ``numpy.float64.astype(str)``,
    pandas' formatter, gives; NaN an empty field), a datetime, string or integer column is
    formatted by pandas once per distinct value (so the formats are pandas' own), and the rows
    are joined. A column of any other type, a string that the CSV format would quote (a
    comma, quote or line break) or a repeated column name falls back to pandas.

    Examples
    --------
    >>> import tempfile
    >>> import pandas as pd
    >>> from pathlib import Path
    >>> from structural.counterfactual.outputs import write_csv
    >>> df = pd.DataFrame({"product": ["a", "b"], "elasticity": [-1 / 3, float("nan")]})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_csv(df, Path(tmp) / "fast.csv")
    ...     df.to_csv(Path(tmp) / "pandas.csv", index=False)
    ...     fast, slow = ((Path(tmp) / f).read_bytes() for f in ("fast.csv", "pandas.csv"))
    >>> fast == slow
    True
    >>> print(fast.decode(), end="")
    product,elasticity
    a,-0.3333333333333333
    b,
    """
    if not df.columns.is_unique:
        df.to_csv(path, index=False)
        return
    fields = []
    for name in df.columns:
        col = df[name]
        if col.dtype == np.float64:  # float32 and nullable floats: pandas' own formatting
            v = col.to_numpy()
            text = np.full(len(v), "", dtype=object)
            ok = ~np.isnan(v)
            text[ok] = list(map(repr, v[ok].tolist()))
            fields.append(text.tolist())
            continue
        if col.dtype.kind not in "MiuO" and not isinstance(col.dtype, pd.StringDtype):
            df.to_csv(path, index=False)
            return
        codes, uniques = pd.factorize(col, use_na_sentinel=False)
        shown = pd.DataFrame({name: uniques}).to_csv(index=False, header=False,
                                                     lineterminator="\n")
        values = shown.split("\n")[:-1]
        if len(values) != len(uniques) or any(v[:1] == '"' for v in values):
            df.to_csv(path, index=False)  # quoted or multi-line values: pandas' own quoting
            return
        fields.append(np.asarray(values, dtype=object)[codes].tolist())
    header = pd.DataFrame(columns=df.columns).to_csv(index=False, lineterminator="\n")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(header)
        fh.writelines(",".join(row) + "\n" for row in zip(*fields, strict=True))


def write_table(df: pd.DataFrame, out: Path, name: str, caption: str = "") -> list[Path]:
    """Write ``name``.csv, .md and .tex under ``out``; returns the paths.

    Examples
    --------
    >>> import tempfile
    >>> import pandas as pd
    >>> from pathlib import Path
    >>> from structural.counterfactual.outputs import write_table
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     paths = write_table(pd.DataFrame({"cost": [1.5]}), Path(tmp), "costs")
    ...     [p.name for p in paths]
    ['costs.csv', 'costs.md', 'costs.tex']
    """
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.csv", out / f"{name}.md", out / f"{name}.tex"]
    write_csv(df, paths[0])
    cells = _cells(df)  # formatted once for both
    paths[1].write_text((f"**{caption}**\n\n" if caption else "") + to_markdown(df, cells))
    paths[2].write_text(to_latex(df, caption, cells))
    return paths


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return [_jsonable(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
    return v


def write_json(obj: dict, path: Path) -> Path:
    """JSON with NaN written as null and ±inf as the strings "inf"/"-inf" (valid JSON)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(obj), indent=2, ensure_ascii=False) + "\n")
    return path


def records(df: pd.DataFrame) -> list[dict]:
    return [dict(r) for r in df.to_dict(orient="records")]
