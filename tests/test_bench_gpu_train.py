"""bench/gpu_train.py's CPU smoke mode: the same code path as on a GPU (models built from the architectures'
configs, our program and `trl sft` on the same data), at tiny sizes, so its first GPU run is not its first run."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.selfhost_helpers import ROOT, offline_env


def _cpu_only() -> dict[str, str]:
    return {**offline_env(), "CUDA_VISIBLE_DEVICES": ""}  # the same result on a machine with a GPU


def test_the_smoke_run_trains_both_sides_on_the_same_data_and_prints_the_table() -> None:
    done = subprocess.run(
        [sys.executable, "bench/gpu_train.py", "--smoke"],
        cwd=ROOT,
        env=_cpu_only(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    out = done.stdout
    for architecture in ("qwen2.5-0.5b", "llama-3.1-8b"):
        table = out[out.index(f"\n{architecture}: Settings(") :]
        ours = re.search(r"tuneloop +([\d,]+) +n/a +([\d.]+)", table)
        theirs = re.search(r"trl sft +([\d,]+) +n/a +([\d.]+)", table)
        assert ours and theirs, table[:1000]
        assert int(ours[1].replace(",", "")) > 0 and int(theirs[1].replace(",", "")) > 0
        # the same model, data, seed and settings: both sides end at the same loss (TRL prints 4 digits)
        assert abs(float(ours[2]) - float(theirs[2])) < 0.01 * float(theirs[2])
        assert re.search(r"ratio +\d+\.\d\dx", table)
    assert "QLoRA: skipped (4-bit needs CUDA)" in out and "--load-in-4bit" in out


def test_without_a_gpu_the_full_benchmark_refuses_to_run() -> None:
    done = subprocess.run(
        [sys.executable, "bench/gpu_train.py"],
        cwd=ROOT,
        env=_cpu_only(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "needs a CUDA GPU (use --smoke for the CPU check)" in done.stderr
