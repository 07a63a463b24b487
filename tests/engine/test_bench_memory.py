"""benchmarks/bench_sweep.py measures the peak memory of the command it times (issue 19: it
reported the largest peak of any earlier child, 619 MB for a sweep that peaked at 404 MB)."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_timed_reports_each_commands_own_peak():
    spec = importlib.util.spec_from_file_location("bench_sweep", ROOT / "benchmarks" / "bench_sweep.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    ballast = b"x" * 200_000_000  # a large benchmark process: its size must not show in its children's peaks
    _, big = bench.timed([sys.executable, "-c", "b = b'x' * 300_000_000"])
    _, small = bench.timed([sys.executable, "-c", "b = b'x' * 10_000_000"])
    assert len(ballast) and big > 250 and small < 100, (big, small)  # MiB; the big child ran first
