"""``edgec bench``: engines timed in interleaved blocks (each in its own process by default),
ratios reported as the median of per-round ratios with their interquartile range."""

from __future__ import annotations

import json

from tests.conftest import DIGITS_MODEL, run_cli


def test_bench_reports_paired_ratios_with_their_spread(tmp_path):
    out = tmp_path / "bench.json"
    result = run_cli("bench", DIGITS_MODEL, "-s", "input:1,1,8,8", "--rounds", "6",
                     "--block-ms", "30", "--no-memory", "--threads", "1", "--json", out)
    assert result.returncode == 0, result.stderr
    assert "default/ORT [IQR]" in result.stdout
    assert "median of 6 interleaved blocks" in result.stdout
    assert "each engine in its own process" in result.stdout
    data = json.loads(out.read_text())
    ratio = data["default_vs_ort"]
    assert ratio["rounds"] == 6 and ratio["low"] <= ratio["median"] <= ratio["high"]
    assert data["own_process"] is True and data["threads"] == 1
    assert data["max_abs_error"] < 1e-4


def test_bench_option_errors():
    result = run_cli("bench", DIGITS_MODEL, "-s", "input:1,1,8,8", "--rounds", "0")
    assert result.returncode == 2 and "--rounds, --block-ms and --min-runs must be positive" \
        in result.stderr
