"""Benchmark: the scaling curve of the whole pipeline, each step against its reference.

One command per size (one lock hold each, so that other benchmarks can run in between):

    flock /tmp/reco-heavy.lock uv run python bench/scale.py --lines 1000000
    flock /tmp/reco-heavy.lock uv run python bench/scale.py --lines 30000000 --steps load,build

Each run merges its results into ``--out``/scale.json (by size, and within a size by step: a
later run of a step replaces that step only) and redraws scale.png from every size recorded.
Without ``--lines`` it runs 1 M, 3 M, 10 M and 30 M lines in one go. Before a size it checks
the disk: a size whose estimated need (:func:`_disk_needed_gb`) exceeds the free space stops
with a message saying so, before anything is written.

For each size (N sales lines, N / 10 customers, 3,000 products), every step runs as the user
runs it, in a child process of its own, and is measured against a reference in the same run:

- load: `reco load sales` of an N-line CSV (bench/load_sales.py's file), against the server
  alone (the landed rows pre-encoded, COPYed again with their two indexes);
- cold build: `reco dbt build` on raw data generated in SQL (bench/dbt_build.py's), against a
  plain copy of raw.sales_line;
- incremental: one more day of sales (0.3 % of N lines, a new batch), then `reco dbt build`
  again, against the cold build;
- score: `run_scoring` (read, score, write), against its I/O alone: reading the inputs and
  writing the same outputs (bench/score.py's `measure`);
- backtest: `reco backtest --cutoff (last day − 90 days)`, against the score step.

Each step reports seconds, the peak resident memory of its process (wait4), the peak memory of
the PostgreSQL server's processes (proportional set size, sampled every 0.25 s: a sampled
peak, so a lower bound), the database's size on disk after it and the disk left. The table is
printed; ``--out`` gets the JSON and a PNG of the curves. Scratch databases are dropped at the
end of each size; the generated raw data of a size stays cached (bench/dbt_build.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))

import dbt_build  # noqa: E402  (bench/ is not a package: its scripts are importable siblings)
import load_sales  # noqa: E402
import score as score_bench  # noqa: E402

from reco.db import migrate  # noqa: E402
from reco.db.resolver import resolve  # noqa: E402
from reco.db.target import Database  # noqa: E402

_exec = dbt_build._exec  # one way to run a statement, shared with the build bench

console = Console(width=160)
PRODUCTS = 3_000
NEW_DAY_SHARE = 0.003
STEPS = ("load", "build", "incremental", "score", "backtest")
#: Disk per million lines at the peak of a size (the cached raw data, the scratch database
#: with the marts and a backtest's rebuilt schemas), from the 1 M-line point (bench/RESULTS.md
#: 2026-12-07: 775 MB of database after the backtest, plus the raw template), with room.
DISK_GB_PER_MILLION = 1.6
#: Free space kept on top of the estimate (the other users of the disk, WAL, temporary files).
DISK_MARGIN_GB = 8.0


# -- measuring a child process -------------------------------------------------------------------


def _postmaster(db: Database) -> int:
    """The process id of the server behind DB (the parent of one of its backends)."""
    with psycopg.connect(db.conninfo()) as conn:  # read while the backend lives
        backend = conn.execute("select pg_backend_pid()").fetchone()[0]
        status = Path(f"/proc/{backend}/status").read_text()
    return int(status.split("PPid:")[1].split()[0])


def _server_pss_mb(postmaster: int) -> float:
    """The proportional set size of the server's processes (the postmaster and its children)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if int(pid) != postmaster:
                status = Path(f"/proc/{pid}/status").read_text()
                if int(status.split("PPid:")[1].split()[0]) != postmaster:
                    continue
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except (OSError, IndexError, ValueError):  # the process ended, or is not ours to read
            continue
    return total / 1024


class _ServerPeak(threading.Thread):
    def __init__(self, postmaster: int) -> None:
        super().__init__(daemon=True)
        self.postmaster = postmaster
        self.peak = _server_pss_mb(postmaster)
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.25):
            self.peak = max(self.peak, _server_pss_mb(self.postmaster))

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak


def _child(args: list[str], env: dict[str, str], postmaster: int) -> dict:
    """Run ARGS; its seconds, stdout and the server's peak PSS (MB)."""
    sampler = _ServerPeak(postmaster)
    sampler.start()
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    server = sampler.stop()
    if proc.returncode:
        raise SystemExit(f"{' '.join(args[:4])} … failed (exit {proc.returncode}):\n{err[-3000:]}")
    return {"seconds": seconds, "stdout": out, "server_peak_mb": server}


def _measured(args: list[str], db: Database) -> dict:
    """``_child`` on DB, through a wrapper that reports the command's own peak resident memory
    (wait4's rusage of that one process)."""
    wrapper = [sys.executable, __file__, "--wrap", "--", *args]
    result = _child(wrapper, _env(db), _postmaster(db))
    lines = result["stdout"].strip().splitlines()
    result |= json.loads(lines[-1])
    if len(lines) > 1 and lines[-2].startswith("{"):  # the command's own JSON summary, on one line
        with contextlib.suppress(json.JSONDecodeError):
            result |= {k: v for k, v in json.loads(lines[-2]).items() if k not in result}
    elif len(lines) > 1 and lines[-2].startswith("}"):  # one JSON document over several lines
        start = next((i for i, line in enumerate(lines) if line == "{"), None)
        if start is not None:
            with contextlib.suppress(json.JSONDecodeError):
                result["summary"] = json.loads("\n".join(lines[start:-1]))
    return result


def _wrap(args: list[str]) -> None:
    """Run ARGS, pass its output through, then print its peak RSS as the last line (JSON)."""
    proc = subprocess.Popen(args)
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code:
        raise SystemExit(code)
    sys.stdout.flush()
    print(json.dumps({"peak_rss_mb": usage.ru_maxrss / 1024}))


# -- the database ---------------------------------------------------------------------------------


def _value(db: Database, sql: str):
    with psycopg.connect(db.conninfo()) as conn:
        return conn.execute(sql).fetchone()[0]


def _size_mb(db: Database) -> float:
    return _value(db, "select pg_database_size(current_database())") / 1e6


def _disk_free_gb() -> float:
    return shutil.disk_usage("/").free / 1e9


def _env(db: Database) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = db.conninfo()
    env.setdefault("DBT_TARGET_PATH", str(Path(__file__).parent / "out" / "target"))
    return env


def _reco() -> str:
    return str(Path(sys.executable).parent / "reco")


def _step(name: str, measured: dict, reference_s: float, reference: str, db: Database | None) -> dict:
    console.print(
        f"  {time.strftime('%H:%M:%S', time.gmtime())} {name}: {measured['seconds']:.1f} s "
        f"(reference {reference_s or 0:.1f} s); load {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        highlight=False,
    )
    return {
        "step": name,
        "seconds": measured["seconds"],
        "reference_s": reference_s,
        "reference": reference,
        "ratio": measured["seconds"] / reference_s if reference_s else None,
        "peak_rss_mb": measured.get("peak_rss_mb"),
        "server_peak_mb": measured.get("server_peak_mb"),
        "db_mb": _size_mb(db) if db is not None else None,
        "disk_free_gb": _disk_free_gb(),
    }


def _scratch(server: Database, template: str | None = None) -> Database:
    name = f"reco_scale_{uuid.uuid4().hex[:8]}"
    clause = f' template "{template}"' if template else ""
    _exec(server.for_database("postgres"), f'create database "{name}"{clause}', autocommit=True)
    return server.for_database(name)


def _drop(db: Database) -> None:
    name = db.url.database
    _exec(db.for_database("postgres"), f'drop database if exists "{name}" with (force)', autocommit=True)


# -- the steps ------------------------------------------------------------------------------------


def _load(server: Database, lines: int) -> dict:
    db = _scratch(server)
    try:
        migrate.upgrade(db)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "sales.csv"
            load_sales.write_csv(path, lines)
            csv_mb = path.stat().st_size / 1e6
            measured = _measured([_reco(), "load", "sales", str(path), "--json"], db)
        copy_s, index_s = load_sales.server_floor(db.conninfo())
        step = _step("load", measured, copy_s + index_s, "server alone (COPY + 2 indexes)", db)
        return step | {"csv_mb": csv_mb}
    finally:
        _drop(db)


def _build_and_after(server: Database, lines: int, steps: set[str]) -> list[dict]:
    customers = lines // 10
    template, gen_s = dbt_build._template(server, lines, customers, PRODUCTS)
    if gen_s:
        console.print(f"  raw data of {lines:,} lines generated and cached in {gen_s:.0f} s", highlight=False)
    db = _scratch(server, template)
    out: list[dict] = []
    try:
        ref_s = _exec(db, "create table public.scale_copy as select * from raw.sales_line")
        _exec(db, "drop table public.scale_copy")
        cold = _measured([_reco(), "dbt", "build"], db)
        out.append(_step("build", cold, ref_s, "copy of raw.sales_line", db))
        last: date = _value(db, "select max(order_date) from raw.sales_line")
        if "incremental" in steps:
            day = last + timedelta(days=1)
            day_lines = max(3, int(lines * NEW_DAY_SHARE))
            _exec(db, dbt_build.NEXT_DAY.format(day_lines=day_lines, customers=customers, products=PRODUCTS))
            incremental = _measured([_reco(), "dbt", "build"], db)
            out.append(_step("incremental", incremental, cold["seconds"], "the cold build", db))
            last = day
        as_of = last + timedelta(days=1)
        score_s = None
        if "score" in steps or "backtest" in steps:
            scored = _measured([sys.executable, __file__, "--score", db.url.database, as_of.isoformat()], db)
            ref = scored["read_s"] + scored["write_s"]
            step = _step("score", scored, ref, "read inputs + write outputs", db)
            out.append(step | {"eligible": scored["eligible"], "items": scored["items"]})
            score_s = scored["seconds"]
        if "backtest" in steps:
            cutoff = last - timedelta(days=90)
            bt = _measured([_reco(), "backtest", "--cutoff", cutoff.isoformat(), "--json"], db)
            step = _step("backtest", bt, score_s, "the score step", db)
            cut = (bt.get("summary") or {}).get("cutoffs", [{}])[0]
            out.append(
                step
                | {
                    "stages": cut.get("seconds"),
                    "n_eligible": cut.get("n_eligible"),
                    "tifu_knn_tuning": cut.get("tifu_knn_tuning"),
                }
            )
        return out
    finally:
        _drop(db)


def _score_child(database: str, as_of: str) -> None:
    """In a child: bench/score.py's measure (the run, then its I/O alone) on DATABASE."""
    db_name, day = database, date.fromisoformat(as_of)
    result = score_bench.measure(db_name=db_name, as_of=day)
    print(json.dumps(result))


# -- the record -----------------------------------------------------------------------------------


def _disk_needed_gb(lines: int, steps: set[str]) -> float:
    """What a size needs free on the disk, estimated: :data:`DISK_GB_PER_MILLION` per million
    lines (the load alone: its CSV and its scratch database, about half) plus a margin."""
    per = DISK_GB_PER_MILLION if steps - {"load"} else DISK_GB_PER_MILLION / 2
    return lines / 1e6 * per + DISK_MARGIN_GB


def _merge(path: Path, run: dict) -> list[dict]:
    """The runs recorded in PATH with RUN merged in: a size already there keeps the steps RUN
    did not measure and takes RUN's for the others; sorted by size."""
    runs = json.loads(path.read_text()) if path.exists() else []
    old = next((r for r in runs if r["lines"] == run["lines"]), None)
    if old is not None:
        mine = {s["step"] for s in run["steps"]}
        kept = [s for s in old["steps"] if s["step"] not in mine]
        order = {name: i for i, name in enumerate(STEPS)}
        run = run | {
            "steps": sorted(kept + run["steps"], key=lambda s: order[s["step"]]),
            "earlier": [
                *old.get("earlier", []),
                {k: v for k, v in old.items() if k not in ("steps", "earlier")},
            ],
        }
    return sorted([r for r in runs if r["lines"] != run["lines"]] + [run], key=lambda r: r["lines"])


def _commit() -> str:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    return "?"


# -- output ---------------------------------------------------------------------------------------


def _plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    (secs, ratio), (mem, disk) = axes

    def line(ax, pts, key, scale=1.0, **kw):
        xy = [(x, s[key] * scale) for x, s in pts if s.get(key) is not None]  # None: not recorded
        return ax.plot(*zip(*xy, strict=True), **kw)[0] if xy else None

    for name in STEPS:
        pts = [(r["lines"] / 1e6, s) for r in runs for s in r["steps"] if s["step"] == name]
        if not pts:
            continue
        drawn = line(secs, pts, "seconds", marker="o", label=name)
        line(secs, pts, "reference_s", linestyle=":", marker=".", color=drawn.get_color())
        line(ratio, pts, "ratio", marker="o", label=f"{name} / {pts[0][1]['reference']}")
        line(mem, pts, "peak_rss_mb", 1 / 1024, marker="o", label=f"{name} (client)")
        line(disk, pts, "db_mb", 1 / 1024, marker="o", label=f"database after {name}")
    servers = [
        (r["lines"] / 1e6, max(s["server_peak_mb"] for s in r["steps"] if s.get("server_peak_mb")) / 1024)
        for r in runs
        if any(s.get("server_peak_mb") for s in r["steps"])
    ]
    if servers:
        mem.plot(
            *zip(*servers, strict=True), marker="s", color="black", label="PostgreSQL (peak PSS, sampled)"
        )
    free = [
        (r["lines"] / 1e6, min(s["disk_free_gb"] for s in r["steps"] if s.get("disk_free_gb")) * 1e9 / 2**30)
        for r in runs
        if any(s.get("disk_free_gb") for s in r["steps"])
    ]
    if free:
        disk.plot(
            *zip(*free, strict=True), marker="v", color="grey", linestyle="--", label="disk left (lowest)"
        )
    mem.axhline(24, color="red", linestyle=":", label="the machine's RAM (24 GiB)")
    titles = (
        "seconds (dotted: each step's reference, same run)",
        "× reference",
        "peak memory, GiB",
        "on disk, GiB",
    )
    for ax, title in zip(axes.ravel(), titles, strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("sales lines, millions (customers: lines / 10)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    secs.set_yscale("log")
    ratio.set_yscale("log")
    dates = sorted({r.get("started", "")[:10] for r in runs} - {""})
    fig.suptitle(
        "reco: load, cold build, incremental build, score and backtest by size (bench/scale.py"
        + (f", {', '.join(dates)})" if dates else ")")
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(
    lines: Annotated[list[int] | None, typer.Option(help="Sales lines (repeat for several sizes).")] = None,
    steps: Annotated[str, typer.Option(help="Comma-separated steps to run.")] = ",".join(STEPS),
    out: Annotated[Path, typer.Option(help="Folder for scale.json and scale.png.")] = Path("bench/out"),
    wrap: Annotated[bool, typer.Option("--wrap", hidden=True)] = False,
    score: Annotated[bool, typer.Option("--score", hidden=True)] = False,
    redraw: Annotated[
        Path | None, typer.Option(help="Only redraw this PNG from --out's scale.json, then stop.")
    ] = None,
    args: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
) -> None:
    if wrap:
        _wrap(args or [])
        return
    if score:
        _score_child(*(args or []))
        return
    if redraw is not None:
        _plot(json.loads((out / "scale.json").read_text()), redraw)
        console.print(f"wrote {redraw}")
        return
    wanted = {s.strip() for s in steps.split(",") if s.strip()}
    unknown = wanted - set(STEPS)
    if unknown:
        raise typer.BadParameter(f"unknown step(s) {', '.join(sorted(unknown))}; known: {', '.join(STEPS)}")
    sizes = lines or [1_000_000, 3_000_000, 10_000_000, 30_000_000]
    server = resolve()
    console.print(f"server: {server.masked}; disk free {_disk_free_gb():.0f} GB")
    runs: list[dict] = []
    for n in sizes:
        needed, free = _disk_needed_gb(n, wanted), _disk_free_gb()
        if free < needed:
            raise SystemExit(
                f"{n:,} lines: not started: about {needed:.0f} GB of disk needed "
                f"({DISK_GB_PER_MILLION} GB per million lines + {DISK_MARGIN_GB:.0f} GB margin), "
                f"{free:.0f} GB free"
            )
        load_before, commit = os.getloadavg(), _commit()
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        console.print(
            f"[bold]{n:,} lines[/], {n // 10:,} customers ({started}; disk free {free:.0f} GB, "
            f"about {needed:.0f} GB needed) …"
        )
        done = [_load(server, n)] if "load" in wanted else []
        if wanted & {"build", "incremental", "score", "backtest"}:
            done += _build_and_after(server, n, wanted)
        run = {
            "lines": n,
            "customers": n // 10,
            "started": started,
            "ended": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "commit": commit,
            "load_average": [load_before, os.getloadavg()],
            "steps": done,
        }
        table = Table(
            "step",
            "seconds",
            "reference",
            "ref s",
            "× ref",
            "client peak MB",
            "server peak MB",
            "database MB",
            "disk free GB",
            title=f"{n:,} lines, {n // 10:,} customers; load averages "
            f"{' '.join(f'{x:.2f}' for x in load_before)} → {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        )
        for s in done:
            table.add_row(
                s["step"],
                f"{s['seconds']:.1f}",
                s["reference"],
                f"{s['reference_s']:.1f}" if s["reference_s"] else "",
                f"{s['ratio']:.2f}" if s["ratio"] else "",
                f"{s['peak_rss_mb']:,.0f}" if s["peak_rss_mb"] else "",
                f"{s['server_peak_mb']:,.0f}",
                f"{s['db_mb']:,.0f}" if s["db_mb"] else "",
                f"{s['disk_free_gb']:.0f}",
            )
        console.print(table)
        if (
            run["steps"]
            and run["steps"][-1]["step"] == "backtest"
            and run["steps"][-1].get("tifu_knn_tuning")
        ):
            console.print(f"backtest stages (s): {run['steps'][-1]['stages']}")
            console.print(f"TIFU-KNN tuning: {run['steps'][-1]['tifu_knn_tuning']}")
        out.mkdir(parents=True, exist_ok=True)
        runs = _merge(out / "scale.json", run)
        (out / "scale.json").write_text(json.dumps(runs, indent=1, default=str))
        _plot(runs, out / "scale.png")
    console.print(f"wrote {out / 'scale.json'} and {out / 'scale.png'}")


if __name__ == "__main__":
    typer.run(main)
