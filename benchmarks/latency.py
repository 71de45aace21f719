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
machine does not inflate, the load average when the command started, and the command's target
with whether it was met. With ``--baseline DIR`` (a checkout of another version, e.g.
``git worktree add /tmp/base main``) every command also runs from that version, alternating with
this one under the same load, and the ratios are printed.

A full run takes long (the random-coefficients reproductions compile for many minutes cold), so
it is built not to lose anything: each run of a command is stopped after ``--timeout`` seconds
and reported as timed out (its warm run is then skipped: the cache it would read is incomplete),
and each command's line is appended to ``latency.csv`` and ``latency.md`` in ``--results DIR``
as soon as it is measured. ``--resume`` skips the commands those files already hold, so an
interrupted run continues where it stopped. ``--only``/``--skip`` select commands by substring
and ``--list`` prints the selection without running it.

    python benchmarks/latency.py [--only SUBSTRING ...] [--skip SUBSTRING ...] [--list]
        [--timeout S] [--results DIR] [--resume] [--repeat-warm K] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import re
import resource
import shlex
import signal
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
    children: what it costs whatever else the machine runs), XLA compilations, exit status
    (None: stopped at the time limit) and the 1-minute load average when it started."""

    wall: float
    cpu: float
    compiled: int | None
    rc: int | None
    load: float

    @property
    def timed_out(self) -> bool:
        return self.rc is None


def run(argv: list[str], env: dict[str, str], timeout: float | None = None) -> Timing:
    """Run one ``llmecon`` process (``--verbose`` for its compile count) and time it, from the
    checkout ``env["PYTHONPATH"]`` names if any (its working directory: ``python -m`` puts that
    before PYTHONPATH), else from this one. Past ``timeout`` seconds the process and its children
    are killed and the timing says so (``rc`` None), the CPU they used still counted."""
    cmd = [sys.executable, "-m", "llmecon", *argv]
    if argv and argv[0] != "--help":
        cmd.append("--verbose")
    load = os.getloadavg()[0]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=env.get("PYTHONPATH") or ROOT, start_new_session=True)
    try:
        _, err = p.communicate(timeout=timeout)
        rc: int | None = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # its own session: the command and its workers
        _, err = p.communicate()
        rc = None
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    m = COMPILE_RE.search(err or "")
    return Timing(wall, cpu, int(m.group(1)) if m else None, rc, load)


_RUNS = itertools.count()


def cold_and_warm(argv: list[str], env: dict[str, str], repeat_warm: int,
                  timeout: float | None = None) -> tuple[Timing, Timing | None]:
    """The cold run (an empty cache of its own: no command profits from another's programs)
    and the fastest of ``repeat_warm`` warm runs on that cache; no warm run (None) when the
    cold one timed out, as its cache is incomplete."""
    env = {**env, "LLMECON_CACHE_DIR": str(Path(env["LLMECON_CACHE_DIR"]) / f"c{next(_RUNS)}")}
    cold = run(argv, env, timeout)
    if cold.timed_out:
        return cold, None
    warm = min((run(_fresh_out(argv, k), env, timeout) for k in range(max(repeat_warm, 1))),
               key=lambda t: (t.timed_out, t.wall))
    return cold, warm


def _cell(t: Timing | None) -> str:
    if t is None:
        return f"{'not run':>19}"
    if t.timed_out:
        return f"{'>' + format(t.wall, '.1f'):>7} {t.cpu:6.2f} {'TIME':>4}"
    comp = t.compiled if t.compiled is not None else "-"
    return f"{t.wall:7.2f} {t.cpu:6.2f} {comp:>4}"


@dataclass(frozen=True)
class Target:
    """What a command is held to: ``text`` printed beside its figures, and the check."""

    text: str
    warm: float | None = None
    cold: float | None = None
    cold_compiles: int | None = None

    def missed(self, label: str, cold: Timing, warm: Timing | None) -> list[str]:
        """One line per target this command missed (a timed-out or failed run misses all)."""
        out = []
        if cold.timed_out:
            out.append(f"{label}: cold run stopped at the time limit ({cold.wall:.0f} s)")
        elif cold.rc:
            out.append(f"{label}: exit status {cold.rc}")
        if self.cold is not None and not cold.timed_out and (
                cold.wall > self.cold or (cold.compiled or 0) > (self.cold_compiles or 10**9)):
            out.append(f"{label}: cold {cold.wall:.1f} s (cpu {cold.cpu:.1f} s) with "
                       f"{cold.compiled} compilations (target {self.text})")
        if self.warm is not None and warm is not None and (warm.timed_out
                                                           or warm.wall > self.warm):
            out.append(f"{label}: warm {warm.wall:.2f} s, cpu {warm.cpu:.2f} s "
                       f"(target {self.text})")
        return out


def target_of(argv: list[str]) -> Target:
    """The issue's target for one command line."""
    if argv == ["--help"]:
        return Target(f"<= {HELP_LIMIT} s, no JAX", warm=HELP_LIMIT)
    if argv[:2] == ["reproduce", "llm_costs"] and "--quick" not in argv:
        return Target(f"cold <= {LLM_COSTS_COLD:.0f} s, <= {LLM_COSTS_COMPILES} comp; warm "
                      f"<= {LLM_COSTS_WARM:.0f} s", warm=LLM_COSTS_WARM, cold=LLM_COSTS_COLD,
                      cold_compiles=LLM_COSTS_COMPILES)
    if FULL_BOOTSTRAP in " ".join(argv):
        return Target("none (full bootstrap)")
    return Target(f"warm <= {WARM_LIMIT:.0f} s", warm=WARM_LIMIT)


def help_imports_jax(env: dict[str, str]) -> bool:
    probe = ("import sys\nfrom llmecon.cli import main\ntry:\n    main(['--help'])\n"
             "except SystemExit:\n    pass\nprint('jax' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                       check=False)
    return p.stdout.strip().splitlines()[-1] == "True"


CSV_FIELDS = ("command", "load", "cold_wall_s", "cold_cpu_s", "cold_compiled", "cold_status",
              "warm_wall_s", "warm_cpu_s", "warm_compiled", "warm_status", "target", "met")


def _status(t: Timing | None) -> str:
    if t is None:
        return "not run"
    return "timeout" if t.timed_out else ("ok" if t.rc == 0 else f"exit {t.rc}")


class Results:
    """``latency.csv`` and ``latency.md`` in a folder, one row appended (and flushed) per
    command as soon as it is measured, so that a long run interrupted loses nothing."""

    def __init__(self, folder: Path, resume: bool) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.csv, self.md = folder / "latency.csv", folder / "latency.md"
        self.done: set[str] = set()
        if resume and self.csv.exists():
            with self.csv.open(newline="") as f:
                self.done = {row["command"] for row in csv.DictReader(f)}
        if not (resume and self.csv.exists()):
            with self.csv.open("w", newline="") as f:
                csv.writer(f).writerow(CSV_FIELDS)
            self.md.write_text(
                "| command | load | cold wall s | cold cpu s | cold comp | warm wall s | "
                "warm cpu s | warm comp | target | met |\n"
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n")

    def add(self, label: str, cold: Timing, warm: Timing | None, target: Target,
            met: bool) -> None:
        def nums(t: Timing | None) -> list[str]:
            if t is None:
                return ["", "", ""]
            return [f"{t.wall:.2f}", f"{t.cpu:.2f}", "" if t.compiled is None else str(t.compiled)]

        c, w = nums(cold), nums(warm)
        with self.csv.open("a", newline="") as f:
            csv.writer(f).writerow([label, f"{cold.load:.1f}", *c, _status(cold), *w,
                                    _status(warm), target.text, "yes" if met else "no"])
        def md(t: Timing | None, v: list[str]) -> list[str]:
            if t is not None and t.timed_out:
                return [f"> {v[0]} (timeout)", v[1], ""]
            return v if t is not None else ["not run", "", ""]

        cells = [f"`{label}`", f"{cold.load:.1f}", *md(cold, c), *md(warm, w), target.text,
                 ("yes" if met else "**no**")
                 + ("" if cold.rc == 0 or cold.timed_out else f" (exit {cold.rc})")]
        with self.md.open("a") as f:
            f.write("| " + " | ".join(cells) + " |\n")


def select(commands: list[list[str]], only: list[str] | None,
           skip: list[str] | None) -> list[list[str]]:
    """The commands whose line holds one of ``only`` (all if None) and none of ``skip``."""
    def has(argv: list[str], subs: list[str]) -> bool:
        return any(s in " ".join(argv) for s in subs)

    return [c for c in commands if (not only or has(c, only)) and not (skip and has(c, skip))]


def _print_baseline(b_cold: Timing, b_warm: Timing | None, cold: Timing,
                    warm: Timing | None) -> None:
    """The baseline's line under a command's, and the ratios baseline / this."""
    print(f"{'  baseline':<52} {b_cold.load:5.1f} {_cell(b_cold):>24}  "
          f"{_cell(b_warm):>24}  {_status(b_cold)}")
    if b_warm is not None and warm is not None:
        print(f"{'  ratio baseline / this':<52} {'':5} "
              f"{b_cold.wall / cold.wall:7.2f}x {b_cold.cpu / cold.cpu:5.2f}x "
              f"{'':4} {b_warm.wall / warm.wall:7.2f}x "
              f"{b_warm.cpu / warm.cpu:5.2f}x", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None,
                    help="run only commands containing one of these substrings")
    ap.add_argument("--skip", nargs="*", default=None,
                    help="leave out commands containing one of these substrings")
    ap.add_argument("--list", action="store_true",
                    help="print the selected commands and their targets; run nothing")
    ap.add_argument("--timeout", type=float, default=1800.0,
                    help="seconds each run of a command may take before it is stopped and "
                         "reported as timed out (default 1800)")
    ap.add_argument("--results", type=Path, default=Path("."),
                    help="folder for latency.csv and latency.md, written line by line "
                         "(default: the working directory)")
    ap.add_argument("--resume", action="store_true",
                    help="append to the results files and skip the commands they hold")
    ap.add_argument("--repeat-warm", type=int, default=1,
                    help="warm runs per command; the fastest is reported")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="a checkout of another version (e.g. main): each command also runs "
                         "from it (PYTHONPATH), alternating with this one so both see the same "
                         "load, and the ratios baseline / this are printed")
    args = ap.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "scratch"
        scratch.mkdir()
        commands = select([["--help"], *readme_commands(scratch)], args.only, args.skip)

        def label_of(argv: list[str]) -> str:
            return "llmecon " + " ".join(a if not a.startswith(tmp) else "DIR" for a in argv)

        if args.list:
            for c in commands:
                print(f"{label_of(c):<60} {target_of(c).text}")
            return 0
        results = Results(args.results, args.resume)
        commands = [c for c in commands if label_of(c) not in results.done]
        print(f"cores available: {cores}; load average at start {os.getloadavg()[0]:.1f}; "
              f"{len(commands)} commands; each run stopped after {args.timeout:.0f} s; results "
              f"appended to {results.csv} and {results.md}")
        print("wall and cpu in seconds (cpu: user + system of the process, what it costs whatever "
              "else runs); comp: XLA compilations (TIME: stopped at the time limit); load: "
              "1-minute load average at the cold start")
        env = {**os.environ, "LLMECON_CACHE_DIR": str(Path(tmp) / "cache")}
        env.pop("JAX_COMPILATION_CACHE_DIR", None)
        env.pop("PYTHONPATH", None)  # this checkout (the working directory of each run)
        base_env = None
        if args.baseline is not None:
            base_env = {**env, "LLMECON_CACHE_DIR": str(Path(tmp) / "cache_baseline"),
                        "PYTHONPATH": str(args.baseline.resolve())}
        head = (f"{'cold: wall':>12} {'cpu':>6} {'comp':>4} "
                f"{'warm: wall':>12} {'cpu':>6} {'comp':>4}")
        print(f"{'command':<52} {'load':>5} {head}  {'target':<24} met", flush=True)
        for argv in commands:
            label = label_of(argv)
            target = target_of(argv)
            if base_env is not None:
                b_cold, b_warm = cold_and_warm(_fresh_out(argv, 100), base_env,
                                               args.repeat_warm, args.timeout)
            cold, warm = cold_and_warm(argv, env, args.repeat_warm, args.timeout)
            missed = target.missed(label, cold, warm)
            failures += missed
            results.add(label, cold, warm, target, not missed)
            print(f"{label[:52]:<52} {cold.load:5.1f} {_cell(cold):>24}  {_cell(warm):>24}  "
                  f"{target.text:<24} {'no' if missed else 'yes'}", flush=True)
            if base_env is not None:
                _print_baseline(b_cold, b_warm, cold, warm)
        if commands and commands[0] == ["--help"] and help_imports_jax(env):
            failures.append("llmecon --help imports JAX")
    print(f"load average at the end {os.getloadavg()[0]:.1f} on {cores} cores"
          + (" (wall times are inflated by the other work; cpu is not)"
             if os.getloadavg()[0] > cores else ""))
    print("targets met" if not failures else "targets missed:\n  " + "\n  ".join(failures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
