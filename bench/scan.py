#!/usr/bin/env python3
"""Benchmark: a full agent scan on this machine. Prints JSON.

Measures, over N runs of `watchpost-agent scan --json` as a real process:
wall time (median and max), peak RSS of the process, report size raw and gzipped.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AGENT = Path(sys.executable).parent / "watchpost-agent"


def one_run(config: Path) -> tuple[float, int, bytes]:
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = subprocess.run(
        [str(AGENT), "--config", str(config), "scan", "--json"],
        capture_output=True,
        timeout=300,
        check=True,
        env={**os.environ},
    )
    elapsed = time.perf_counter() - started
    # ru_maxrss of children is the max over all waited children; runs are sequential and
    # the first one sets the bar, so report it per run only when it grows.
    peak_kib = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
    return elapsed, peak_kib, result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "absent.toml"  # not enrolled: a full report every time
        runs = [one_run(config) for _ in range(args.runs)]
    times = [r[0] for r in runs]
    body = runs[-1][2]
    print(
        json.dumps(
            {
                "benchmark": "agent_full_scan",
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "kernel": platform.release(),
                },
                "runs": args.runs,
                "wall_seconds_median": round(statistics.median(times), 4),
                "wall_seconds_max": round(max(times), 4),
                "peak_rss_mib": round(max(r[1] for r in runs) / 1024, 1),
                "report_bytes": len(body),
                "report_gzip_bytes": len(gzip.compress(body, 6)),
                "sections": sorted(json.loads(body)["sections"]),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
