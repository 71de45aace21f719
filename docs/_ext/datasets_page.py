"""Generate the Datasets pages at build time: a catalogue from :func:`data.list` and one page per
dataset that includes its datasheet (``data/NAME.md``) as written, licence and attribution with
it. Datasheets are included, never copied."""

from __future__ import annotations

from pathlib import Path

import data
from data.catalog import DATASETS

DOCS = Path(__file__).resolve().parents[1]
OUT = DOCS / "generated" / "datasets"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _generate(app, config=None) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cat = data.list()
    lines = ["# Datasets", "",
             "The curated tables shipped in `data/`, each loaded and validated by "
             "`data.load(NAME)` and described by its datasheet (`data.datasheet(NAME)`), "
             "rendered below with its licence and attribution. Built from the raw sources by "
             "`data/build.py`; nothing is read from the network at run time.", "",
             "| " + " | ".join(str(c) for c in cat.columns) + " |",
             "|" + "---|" * len(cat.columns)]
    for row in cat.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    lines += ["", "```{toctree}", ":maxdepth: 1", "", *sorted(DATASETS), "```", ""]
    (OUT / "index.md").write_text("\n".join(lines))
    data_dir = Path(data.__file__).parent
    for name in sorted(DATASETS):
        sheet = data_dir / f"{name}.md"
        rel = Path("..", "..", "..", "data", sheet.name).as_posix()
        (OUT / f"{name}.md").write_text(f"```{{include}} {rel}\n```\n")


def setup(app):
    app.connect("config-inited", _generate)
    return {"version": "1", "parallel_read_safe": True}
