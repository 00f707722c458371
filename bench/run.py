"""fastgrad's benchmark suite: ``python bench/run.py`` (``--quick`` for a short run).

Each benchmark checks fastgrad's result against NumPy once, then times fastgrad (C++ backend),
fastgrad (Python backend), the hand-written NumPy reference and PyTorch (when importable) side by
side in one process, calls interleaved round by round so a busy machine slows all alike; the
median is reported. Every thread count runs in its own subprocess (thread pools are fixed before
NumPy and torch load). Prints a table with ratios, writes bench/results/results.json and, when
matplotlib is installed, bench/results/results.png.

    python bench/run.py                  # 1 and 2 threads, everything
    python bench/run.py --quick          # fewer sizes and repeats
    python bench/run.py --threads 1 --only gemm mlp
    python bench/run.py --busy --only gemm mlp relu   # with a CPU-bound process beside it
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LIBS = ("fastgrad", "fastgrad-py", "numpy", "torch")
GROUPS = ("gemm", "matmul", "mlp", "chain", "scalar", "relu", "sigmoid", "xent", "deep", "memory")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--only", nargs="+", choices=GROUPS, default=list(GROUPS))
    p.add_argument("--busy", action="store_true",
                   help="run a CPU-bound process beside the benchmarks (a busy second core)")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def run_worker(threads: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    cmd = [sys.executable, str(HERE / "suite.py"), "--threads", str(threads), "--only",
           *args.only] + (["--quick"] if args.quick else [])
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise SystemExit(f"bench/run.py: the {threads}-thread run failed")
    sys.stderr.write(r.stderr)
    return json.loads(r.stdout)


def fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "GFLOP/s":
        return f"{v:.1f}"
    if unit == "MB":
        return f"{v:.0f}"
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def ratio(rec: dict[str, Any], other: str) -> str:
    """fastgrad's cost relative to ``other``: < 1 means fastgrad is faster (or leaner)."""
    a, b = rec["values"].get("fastgrad"), rec["values"].get(other)
    if a is None or b is None or a == 0 or b == 0:
        return "-"
    return f"{(b / a if rec['unit'] == 'GFLOP/s' else a / b):.2f}"


def table(results: list[dict[str, Any]]) -> str:
    head = (f"| threads | benchmark | unit | {' | '.join(LIBS)} | fastgrad/numpy | "
            f"fastgrad/torch |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for rec in results:
        vals = " | ".join(fmt(rec["values"].get(lib), rec["unit"]) for lib in LIBS)
        lines.append(f"| {rec['threads']} | {rec['name']} | {rec['unit']} | {vals} | "
                     f"{ratio(rec, 'numpy')} | {ratio(rec, 'torch')} |")
    return "\n".join(lines)


def chart(results: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    recs = [r for r in results if r["values"].get("fastgrad")]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(recs) + 1.5))
    names = [f"{r['name']} ({r['threads']}t)" for r in recs]
    for i, other in enumerate(("numpy", "torch")):
        vals = []
        for r in recs:
            s = ratio(r, other)
            vals.append(float(s) if s != "-" else 0.0)
        ax.barh([y + 0.4 * i for y in range(len(recs))], vals, height=0.4, label=f"vs {other}")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks([y + 0.2 for y in range(len(recs))], names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("fastgrad cost / other's cost (below 1: fastgrad is faster)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    results: list[dict[str, Any]] = []
    # --busy: another process keeps one core busy the whole time (as a second training job, a
    # browser or a compile would), so a 2-thread run shares a core with it.
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        for t in args.threads:
            print(f"# running {t}-thread benchmarks ...", file=sys.stderr, flush=True)
            for rec in run_worker(t, args):
                if hog is not None:
                    rec["threads"] = f"{t}, 1 core busy"
                results.append(rec)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(table(results))
    print(f"\nratios: fastgrad's time (or memory) divided by the other's; for GFLOP/s the other's "
          f"rate divided by fastgrad's. Below 1: fastgrad wins. JSON: {args.out / 'results.json'}")
    if chart(results, args.out / "results.png"):
        print(f"chart: {args.out / 'results.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
