"""bench/gpu_train.py's CPU smoke mode: the same code path as on a GPU (models built from the architectures'
configs, our program and `trl sft` on the same data), at tiny sizes, so its first GPU run is not its first run."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.selfhost_helpers import ROOT, offline_env


@pytest.fixture(scope="module")
def gpu_train() -> Iterator[ModuleType]:
    """The benchmark as a module (bench/ is scripts, not a package); dataclasses need it in sys.modules."""
    spec = importlib.util.spec_from_file_location("bench_gpu_train", ROOT / "bench" / "gpu_train.py")
    assert spec and spec.loader
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


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


def test_wheels_carried_through_pythonpath_still_reach_the_training_processes(
    gpu_train: ModuleType, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", "/tmp/site")  # `pip install --target /tmp/site`, as on a lent GPU machine
    env = gpu_train.measured_env(tmp_path / "peaks")
    assert env["PYTHONPATH"].split(os.pathsep) == [str(tmp_path / "peaks"), str(ROOT), "/tmp/site"]


def test_missing_training_libraries_are_named_before_anything_is_built(gpu_train: ModuleType, monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *rest: None if name in {"trl", "datasets"} else real(name, *rest)
    )
    assert gpu_train.missing_requirements() == ["trl is not installed", "datasets is not installed"]


def test_a_pyarrow_outside_the_interpreters_prefix_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "pyarrow").mkdir()  # where `pip install --target` would have put it
    (tmp_path / "pyarrow" / "__init__.py").write_text("")
    done = subprocess.run(
        [sys.executable, "bench/gpu_train.py", "--smoke"],
        cwd=ROOT,
        env={**_cpu_only(), "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stdout[-2000:]
    assert f"pyarrow is at {tmp_path / 'pyarrow'}, outside this Python's prefix" in done.stderr
    assert "install its wheel into this Python's environment" in done.stderr
    assert "Settings(" not in done.stdout  # refused before a model was built


def test_a_failed_qlora_run_is_told_and_fails_the_benchmark_after_the_other_tables(
    gpu_train: ModuleType, tmp_path: Path, monkeypatch, capsys
) -> None:
    def broken(*_: object) -> None:
        raise gpu_train.RunFailed("selfhost.train failed (1):\nbitsandbytes has no kernels for CUDA 13")

    monkeypatch.setattr(gpu_train, "compare", broken)
    monkeypatch.setattr(gpu_train.importlib.util, "find_spec", lambda name, *rest: object())  # bitsandbytes "there"
    settings = gpu_train.Settings(steps=10, batch_size=4, max_length=1024, cuda=True)
    assert gpu_train._qlora("llama-3.1-8b", tmp_path, tmp_path, tmp_path, tmp_path, settings) is False
    assert "llama-3.1-8b QLoRA: selfhost.train failed (1):\nbitsandbytes has no kernels" in capsys.readouterr().out
