"""Benchmark: the wall time a user feels for every command in the README, cold and warm.

Each command runs as a fresh process (``python -m llmecon ...``, as the console script does), first
with an empty compilation cache (cold: what a fresh install feels) and then again with the cache
the first run left (warm: every later run), in one run of this script. Each line shows both wall
times and how many programs XLA compiled (from ``--verbose``); the targets of the latency work are
checked at the end:

- ``llmecon --help`` within 0.3 s, without importing JAX;
- warm, every command but the full bootstrap reproduction (``reproduce besiroglu2024``) ≤ 3 s;
- ``reproduce llm_costs``: cold ≤ 30 s with at most 40 compilations, warm ≤ 10 s.

The commands are read from the README's ``bash`` blocks (placeholders such as ``runs.csv`` are
filled with bundled data written to a scratch folder; lines with ``[...]`` alternatives are
skipped), plus ``llmecon reproduce NAME`` for every paper and ``llmecon counterfactual NAME`` for
the counterfactual examples the README names.

    python benchmarks/latency.py [--only SUBSTRING ...] [--repeat-warm K]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPILE_RE = re.compile(r"\((\d+) compiled, (\d+) loaded from the cache")
FULL_BOOTSTRAP = "reproduce besiroglu2024"
HELP_LIMIT, WARM_LIMIT = 0.3, 3.0
LLM_COSTS_COLD, LLM_COSTS_WARM, LLM_COSTS_COMPILES = 30.0, 10.0, 40


def readme_commands(scratch: Path) -> list[list[str]]:
    """``llmecon`` command lines from the README's bash blocks, with scratch inputs and outputs."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    out: list[list[str]] = []
    for block in blocks:
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            for part in line.split("&&"):
                part = part.strip()
                if not part.startswith("llmecon ") or "[" in part or "..." in part:
                    continue
                argv = shlex.split(part)[1:]
                out.append(_fill(argv, scratch))
    names = [a for a in re.findall(r"`llmecon reproduce ([a-z0-9_]+)`", text)]
    names += re.findall(r"^\| `([a-z0-9_]+)` \|", text, flags=re.M)
    for name in dict.fromkeys(names):
        if (ROOT / "papers" / f"{name}.py").exists():
            out.append(["reproduce", name])
    for name in dict.fromkeys(re.findall(r"llmecon counterfactual ([a-z_]+)", text)):
        out.append(["counterfactual", name, "--out", str(scratch / f"cf_{name}")])
    seen, unique = set(), []
    for argv in out:
        key = tuple(a for i, a in enumerate(argv)
                    if a != "--out" and (i == 0 or argv[i - 1] != "--out"))
        if key not in seen:
            seen.add(key)
            unique.append(argv)
    return unique


_OUTS = iter(range(10**6))


def _fill(argv: list[str], scratch: Path) -> list[str]:
    filled = []
    for i, a in enumerate(argv):
        prev = argv[i - 1] if i else ""
        if prev == "--out":
            a = str(scratch / f"out{next(_OUTS)}")
        elif a.endswith(".csv") and prev == "--data":
            a = str(_chinchilla_csv(scratch))
        filled.append(a)
    return filled


def _chinchilla_csv(scratch: Path) -> Path:
    path = scratch / "runs.csv"
    if not path.exists():
        import data

        data.load("chinchilla")[["params", "tokens", "loss"]].to_csv(path, index=False)
    return path


def _fresh_out(argv: list[str], k: int) -> list[str]:
    """``argv`` writing to a new ``--out`` folder (a command refuses to overwrite its last one)."""
    return [f"{a}_warm{k}" if i and argv[i - 1] == "--out" else a for i, a in enumerate(argv)]


def run(argv: list[str], env: dict[str, str]) -> tuple[float, int | None, int]:
    """(wall seconds, XLA compilations, exit status) of one ``llmecon`` process."""
    cmd = [sys.executable, "-m", "llmecon", *argv]
    if argv and argv[0] != "--help":
        cmd.append("--verbose")
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    m = COMPILE_RE.search(p.stderr)
    return wall, (int(m.group(1)) if m else None), p.returncode


def help_imports_jax(env: dict[str, str]) -> bool:
    probe = ("import sys\nfrom llmecon.cli import main\ntry:\n    main(['--help'])\n"
             "except SystemExit:\n    pass\nprint('jax' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                       check=False)
    return p.stdout.strip().splitlines()[-1] == "True"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None,
                    help="run only commands containing one of these substrings")
    ap.add_argument("--repeat-warm", type=int, default=1,
                    help="warm runs per command; the fastest is reported")
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cores available: {cores}")
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch, cache = Path(tmp) / "scratch", Path(tmp) / "cache"
        scratch.mkdir()
        env = {**os.environ, "LLMECON_CACHE_DIR": str(cache)}
        env.pop("JAX_COMPILATION_CACHE_DIR", None)
        commands = [["--help"], *readme_commands(scratch)]
        if args.only:
            commands = [c for c in commands if any(s in " ".join(c) for s in args.only)]
        print(f"{'command':<64} {'cold s':>7} {'comp':>5} {'warm s':>7} {'comp':>5}  rc")
        for argv in commands:
            label = "llmecon " + " ".join(a if not a.startswith(tmp) else "DIR" for a in argv)
            cold, c_comp, rc = run(argv, env)
            warm, w_comp = min((run(_fresh_out(argv, k), env)[:2]
                                for k in range(max(args.repeat_warm, 1))), key=lambda r: r[0])
            print(f"{label[:64]:<64} {cold:7.2f} {c_comp if c_comp is not None else '-':>5} "
                  f"{warm:7.2f} {w_comp if w_comp is not None else '-':>5}  {rc}", flush=True)
            text = " ".join(argv)
            if argv == ["--help"]:
                if warm > HELP_LIMIT:
                    failures.append(f"llmecon --help took {warm:.2f} s (target {HELP_LIMIT} s)")
            elif FULL_BOOTSTRAP not in text and warm > WARM_LIMIT:
                failures.append(f"{label}: warm {warm:.2f} s (target {WARM_LIMIT} s)")
            if text.startswith("reproduce llm_costs"):
                if cold > LLM_COSTS_COLD or (c_comp or 0) > LLM_COSTS_COMPILES:
                    failures.append(f"{label}: cold {cold:.1f} s with {c_comp} compilations "
                                    f"(target {LLM_COSTS_COLD} s, {LLM_COSTS_COMPILES})")
                if warm > LLM_COSTS_WARM:
                    failures.append(f"{label}: warm {warm:.1f} s (target {LLM_COSTS_WARM} s)")
        if help_imports_jax(env):
            failures.append("llmecon --help imports JAX")
    print()
    print("targets met" if not failures else "targets missed:\n  " + "\n  ".join(failures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
