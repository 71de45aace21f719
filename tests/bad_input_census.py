"""Count the distinct bad inputs the command-line tests feed to ``llmecon`` (a pytest plugin).

Every call of :func:`llmecon.cli.main` made by the tests is recorded with its exit status; an
input is its argument list with each file argument replaced by a hash of the file's contents (so
two tests that write different CSVs to the same path count twice, and one CSV under two
temporary paths once). At the end the plugin prints the number of distinct inputs that exited
with status 2, by command::

    PYTHONPATH=tests python -m pytest -q -p bad_input_census tests/cli \\
        tests/structural/fitted/test_fit_cli.py tests/structural/test_pipeline.py \\
        tests/structural/counterfactual/test_scenario.py tests/data/test_data_cli.py \\
        tests/data/test_live_prices.py tests/data/test_openrouter.py
"""

from __future__ import annotations

import collections
import hashlib
import re
from pathlib import Path

import llmecon.cli as cli

_CALLS: list[tuple[tuple[str, ...], object]] = []
_main = cli.main
_TMP = re.compile(r".*/pytest-[^/]*/[^/]*/")


def _fingerprint(argv: list) -> tuple[str, ...]:
    out = []
    for a in map(str, argv):
        try:
            if Path(a).is_file():
                out.append("file:" + hashlib.sha1(Path(a).read_bytes()).hexdigest()[:12])
                continue
        except OSError:
            pass
        out.append(_TMP.sub("<tmp>/", a))
    return tuple(out)


def _recording_main(argv: list | None = None) -> int:
    key = _fingerprint(list(argv or []))
    status: object = None
    try:
        status = _main(argv)
        return status
    except SystemExit as exc:  # argparse's own usage errors exit 2 here
        status = exc.code
        raise
    finally:
        _CALLS.append((key, status))


cli.main = _recording_main


def _command(key: tuple[str, ...]) -> str:
    words = [w for w in key if not w.startswith("--verbose")]
    if not words:
        return "(none)"
    return " ".join(words[:2]) if words[0] in ("fit", "data") else words[0]


def pytest_terminal_summary(terminalreporter) -> None:
    bad = {key for key, status in _CALLS
           if status == 2 and not {"-h", "--help"} & set(key)}
    per = collections.Counter(_command(key) for key in bad)
    terminalreporter.write_line(f"distinct bad inputs (exit 2): {len(bad)}")
    for command, n in sorted(per.items()):
        terminalreporter.write_line(f"  {n:4d}  llmecon {command}")
