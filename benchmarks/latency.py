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

Each line also gives the CPU seconds of the process (user + system), which other work on the
machine does not inflate, and the load average when the command started. With ``--baseline DIR``
(a checkout of another version, e.g. ``git worktree add /tmp/base main``) every command also runs
from that version, alternating with this one under the same load, and the ratios are printed.

    python benchmarks/latency.py [--only SUBSTRING ...] [--repeat-warm K] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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


@dataclass
class Timing:
    """One ``llmecon`` process: wall and CPU seconds (user + system, of the process and its
    children: what it costs whatever else the machine runs), XLA compilations, exit status and
    the 1-minute load average when it started."""

    wall: float
    cpu: float
    compiled: int | None
    rc: int
    load: float


def run(argv: list[str], env: dict[str, str]) -> Timing:
    """Run one ``llmecon`` process (``--verbose`` for its compile count) and time it, from the
    checkout ``env["PYTHONPATH"]`` names if any (its working directory: ``python -m`` puts that
    before PYTHONPATH), else from this one."""
    cmd = [sys.executable, "-m", "llmecon", *argv]
    if argv and argv[0] != "--help":
        cmd.append("--verbose")
    load = os.getloadavg()[0]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False,
                       cwd=env.get("PYTHONPATH") or ROOT)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    m = COMPILE_RE.search(p.stderr)
    return Timing(wall, cpu, int(m.group(1)) if m else None, p.returncode, load)


_RUNS = itertools.count()


def cold_and_warm(argv: list[str], env: dict[str, str], repeat_warm: int) -> tuple[Timing, Timing]:
    """The cold run (an empty cache of its own: no command profits from another's programs)
    and the fastest of ``repeat_warm`` warm runs on that cache."""
    env = {**env, "LLMECON_CACHE_DIR": str(Path(env["LLMECON_CACHE_DIR"]) / f"c{next(_RUNS)}")}
    cold = run(argv, env)
    warm = min((run(_fresh_out(argv, k), env) for k in range(max(repeat_warm, 1))),
               key=lambda t: t.wall)
    return cold, warm


def _cell(t: Timing) -> str:
    comp = t.compiled if t.compiled is not None else "-"
    return f"{t.wall:7.2f} {t.cpu:6.2f} {comp:>4}"


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
    ap.add_argument("--baseline", type=Path, default=None,
                    help="a checkout of another version (e.g. main): each command also runs "
                         "from it (PYTHONPATH), alternating with this one so both see the same "
                         "load, and the ratios baseline / this are printed")
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cores available: {cores}; load average at start {os.getloadavg()[0]:.1f}")
    print("wall and cpu in seconds (cpu: user + system of the process, what it costs whatever "
          "else runs); comp: XLA compilations; load: 1-minute load average at the cold start")
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "scratch"
        scratch.mkdir()
        env = {**os.environ, "LLMECON_CACHE_DIR": str(Path(tmp) / "cache")}
        env.pop("JAX_COMPILATION_CACHE_DIR", None)
        env.pop("PYTHONPATH", None)  # this checkout (the working directory of each run)
        base_env = None
        if args.baseline is not None:
            base_env = {**env, "LLMECON_CACHE_DIR": str(Path(tmp) / "cache_baseline"),
                        "PYTHONPATH": str(args.baseline.resolve())}
        commands = [["--help"], *readme_commands(scratch)]
        if args.only:
            commands = [c for c in commands if any(s in " ".join(c) for s in args.only)]
        head = (f"{'cold: wall':>12} {'cpu':>6} {'comp':>4} "
                f"{'warm: wall':>12} {'cpu':>6} {'comp':>4}")
        print(f"{'command':<52} {'load':>5} {head}  rc")
        for argv in commands:
            label = "llmecon " + " ".join(a if not a.startswith(tmp) else "DIR" for a in argv)
            text = " ".join(argv)
            # the full reproduction has its own targets (10 s warm; 30 s, 40 programs cold)
            full_llm_costs = argv[:2] == ["reproduce", "llm_costs"] and "--quick" not in argv
            if base_env is not None:
                b_cold, b_warm = cold_and_warm(_fresh_out(argv, 100), base_env,
                                               args.repeat_warm)
            cold, warm = cold_and_warm(argv, env, args.repeat_warm)
            print(f"{label[:52]:<52} {cold.load:5.1f} {_cell(cold):>24}  {_cell(warm):>24}  "
                  f"{cold.rc}", flush=True)
            if base_env is not None:
                print(f"{'  baseline':<52} {b_cold.load:5.1f} {_cell(b_cold):>24}  "
                      f"{_cell(b_warm):>24}  {b_cold.rc}")
                print(f"{'  ratio baseline / this':<52} {'':5} "
                      f"{b_cold.wall / cold.wall:7.2f}x {b_cold.cpu / cold.cpu:5.2f}x {'':4} "
                      f"{b_warm.wall / warm.wall:7.2f}x {b_warm.cpu / warm.cpu:5.2f}x", flush=True)
            if argv == ["--help"]:
                if warm.wall > HELP_LIMIT:
                    failures.append(f"llmecon --help took {warm.wall:.2f} s, cpu {warm.cpu:.2f} s "
                                    f"(target {HELP_LIMIT} s)")
            elif FULL_BOOTSTRAP not in text and not full_llm_costs and warm.wall > WARM_LIMIT:
                failures.append(f"{label}: warm {warm.wall:.2f} s, cpu {warm.cpu:.2f} s "
                                f"(target {WARM_LIMIT} s)")
            if full_llm_costs:
                if cold.wall > LLM_COSTS_COLD or (cold.compiled or 0) > LLM_COSTS_COMPILES:
                    failures.append(f"{label}: cold {cold.wall:.1f} s (cpu {cold.cpu:.1f} s) with "
                                    f"{cold.compiled} compilations (target {LLM_COSTS_COLD} s, "
                                    f"{LLM_COSTS_COMPILES})")
                if warm.wall > LLM_COSTS_WARM:
                    failures.append(f"{label}: warm {warm.wall:.1f} s, cpu {warm.cpu:.1f} s "
                                    f"(target {LLM_COSTS_WARM} s)")
        if help_imports_jax(env):
            failures.append("llmecon --help imports JAX")
    print(f"load average at the end {os.getloadavg()[0]:.1f} on {cores} cores"
          + (" (wall times are inflated by the other work; cpu is not)"
             if os.getloadavg()[0] > cores else ""))
    print("targets met" if not failures else "targets missed:\n  " + "\n  ".join(failures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
