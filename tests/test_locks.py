"""The locks agree with pyproject.toml, the bot's lock holds no training library, and the locks a machine with
only the public registry installs resolve there (`make check-public` resolves the whole test lock)."""

from __future__ import annotations

import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.lock_helpers import LOCKS, REPO, REQUIREMENTS, drift, pins_in, public_resolution, read_lock
from tests.test_install import machine_env

PYPROJECT = REPO / "pyproject.toml"
TESTS_STAMP = ".venv/.installed-test"
TRAINING = {"torch", "transformers", "trl", "peft", "ray", "accelerate", "datasets"}


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_lock_agrees_with_pyproject(lock: str) -> None:
    assert drift(PYPROJECT, REQUIREMENTS / lock, LOCKS[lock]) == []


def changed(tmp_path: Path, old: str, new: str) -> Path:
    text = PYPROJECT.read_text()
    assert old in text
    copy = tmp_path / "pyproject.toml"
    copy.write_text(text.replace(old, new))
    return copy


def test_a_changed_range_a_new_dependency_and_a_dropped_one_are_each_caught(tmp_path: Path) -> None:
    bolt = next(line for line in PYPROJECT.read_text().splitlines() if line.strip().startswith('"slack-bolt'))
    pinned = read_lock(REQUIREMENTS / "base.txt")["slack-bolt"].version
    moved = changed(tmp_path, bolt, f'    "slack-bolt>{pinned},<3",')
    assert drift(moved, REQUIREMENTS / "base.txt", False) == [
        f"base.txt pins slack-bolt=={pinned}, outside pyproject.toml's {Requirement(f'slack-bolt>{pinned},<3')}"
    ]
    added = changed(tmp_path, bolt, bolt + '\n    "asyncpg>=0.31,<0.32",')
    assert drift(added, REQUIREMENTS / "test.txt", True) == [
        f"test.txt has no asyncpg, which pyproject.toml asks for ({Requirement('asyncpg>=0.31,<0.32')})"
    ]
    dropped = changed(tmp_path, bolt, "")
    assert drift(dropped, REQUIREMENTS / "test-cpu.txt", True) == [
        "test-cpu.txt pins slack-bolt for pyproject.toml, which no longer asks for it"
    ]


def test_the_bots_lock_holds_no_training_library_and_the_test_locks_differ_only_in_torch() -> None:
    base, public, cpu = (read_lock(REQUIREMENTS / name) for name in ("base.txt", "test.txt", "test-cpu.txt"))
    assert TRAINING.isdisjoint(pin.name for pin in pins_in(REQUIREMENTS / "base.txt"))  # on any platform
    assert TRAINING <= public.keys() and TRAINING <= cpu.keys()
    assert all(public[name].version == pin.version for name, pin in base.items())  # one set of versions
    assert public["torch"].version == "2.13.0" and cpu["torch"].version == "2.13.0+cpu"
    cuda = {name for name in public.keys() - cpu.keys() if name.startswith(("nvidia-", "cuda-")) or name == "triton"}
    assert cuda and public.keys() - cpu.keys() == cuda  # on Linux, what PyPI's torch brings and the CPU build lacks
    assert all(cpu[name].version == pin.version for name, pin in public.items() if name in cpu and name != "torch")
    # No local build (a +label the public registry does not carry) in what make run or a public-only make test installs.
    assert not [pin for name in ("base.txt", "test.txt") for pin in pins_in(REQUIREMENTS / name) if "+" in pin.version]


def test_the_dockerfile_and_make_install_the_locks() -> None:
    makefile, script = (REPO / "Makefile").read_text(), (REPO / "deploy" / "install.sh").read_text()
    assert "--require-hashes -r requirements/base.txt" in makefile
    assert re.search(r"--require-hashes -r \"?\$src/requirements/base.txt", script)
    assert "requirements/constraints-cpu.txt torch" in makefile  # the test lock follows the CPU wheel


def test_make_picks_the_cpu_lock_only_where_pip_finds_the_cpu_wheel(tmp_path: Path) -> None:
    def test_lock(find_links: Path) -> str:
        env = {**machine_env(), "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": str(find_links)}
        run = subprocess.run(
            ["make", "-s", "-n", "-C", str(REPO), "-W", "requirements/test.txt", TESTS_STAMP],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return re.findall(r"-r (requirements/test\S*\.txt)", run.stdout)[-1]

    empty, wheels = tmp_path / "empty", tmp_path / "wheels"
    empty.mkdir(), wheels.mkdir()
    cpu = read_lock(REQUIREMENTS / "test-cpu.txt")["torch"].version
    with zipfile.ZipFile(wheels / f"torch-{cpu}-py3-none-any.whl", "w") as wheel:  # what pip reads of a wheel
        info = f"torch-{cpu}.dist-info"
        wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: torch\nVersion: {cpu}\n")
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/RECORD", "")
    assert test_lock(empty) == "requirements/test.txt"
    assert test_lock(wheels) == "requirements/test-cpu.txt"


def test_the_bots_lock_resolves_from_the_public_registry_and_a_local_build_does_not(tmp_path: Path) -> None:
    assert public_resolution(REQUIREMENTS / "base.txt", tmp_path) == []
    torch = read_lock(REQUIREMENTS / "test-cpu.txt")["torch"]
    local = tmp_path / "local.txt"
    local.write_text(f"torch=={torch.version} \\\n    --hash=sha256:{next(iter(torch.hashes))}\n")
    (problem,) = public_resolution(local, tmp_path)
    assert "does not resolve from the public registry" in problem and "torch==2.13.0+cpu" in problem
    assert canonicalize_name("torch") in read_lock(local)


def test_the_public_check_catches_a_file_the_lock_does_not_hash_and_a_dependency_it_does_not_pin(
    tmp_path: Path,
) -> None:
    base = read_lock(REQUIREMENTS / "base.txt")
    alone = tmp_path / "alone.txt"  # aiosignal needs frozenlist (and typing-extensions before Python 3.13)
    alone.write_text(f"aiosignal=={base['aiosignal'].version} \\\n    --hash=sha256:{'0' * 64}\n")
    problems = public_resolution(alone, tmp_path)
    (picked,) = re.findall(
        rf"^pip picked a file of aiosignal=={base['aiosignal'].version} \(sha256 (\w+)\) "
        r"whose hash alone.txt lacks$",
        "\n".join(problems),
        re.MULTILINE,
    )
    assert picked in base["aiosignal"].hashes  # the real file's hash, which base.txt carries
    assert f"pip also installs frozenlist=={base['frozenlist'].version}, which alone.txt does not pin" in problems
