"""The lock files under requirements/: read them, compare them with pyproject.toml, resolve them as a machine
with only the public registry would.

`python -m tests.lock_helpers public LOCK... [--must-fail LOCK...]` is `make check-public`.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO / "requirements"
# Each lock, and whether it holds every extra (True) or only the base dependencies (False).
LOCKS = {"base.txt": False, "test.txt": True, "test-cpu.txt": True}
DIRECT = "tuneloop (pyproject.toml)"  # how uv marks a requirement pyproject.toml asked for
ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


@dataclass
class Pin:
    name: str
    version: str
    marker: str | None
    hashes: set[str]
    direct: bool = False

    def applies(self) -> bool:
        """Whether pip on this interpreter and platform installs it."""
        return self.marker is None or Marker(self.marker).evaluate()


def pins_in(path: Path) -> list[Pin]:
    """The pins of a `uv pip compile --generate-hashes` file (a universal lock may pin a name once per marker)."""
    pins: list[Pin] = []
    for line in path.read_text().splitlines():
        if entry := ENTRY.match(line):
            name, version, marker = entry.groups()
            pins.append(Pin(canonicalize_name(name), version, marker, set()))
        elif pins:
            pins[-1].hashes.update(HASH.findall(line))
            pins[-1].direct |= line.strip().lstrip("#").strip() in (DIRECT, f"via {DIRECT}")
    return pins


def read_lock(path: Path) -> dict[str, Pin]:
    """What pip on this interpreter and platform installs from the lock, by canonical name."""
    return {pin.name: pin for pin in pins_in(path) if pin.applies()}


def requirements(pyproject: Path, all_extras: bool) -> list[Requirement]:
    """What pyproject.toml asks for: its dependencies, and with `all_extras` every optional group's too."""
    project = tomllib.loads(pyproject.read_text())["project"]
    wanted = list(project["dependencies"])
    if all_extras:
        wanted += [req for group in project.get("optional-dependencies", {}).values() for req in group]
    return [Requirement(req) for req in wanted]


def drift(pyproject: Path, lock: Path, all_extras: bool) -> list[str]:
    """Every way `lock` disagrees with `pyproject`'s dependencies; empty when they agree."""
    pins, wanted = pins_in(lock), requirements(pyproject, all_extras)
    problems = []
    for req in wanted:
        found = [pin for pin in pins if pin.name == canonicalize_name(req.name)]
        if not found:
            problems.append(f"{lock.name} has no {req.name}, which pyproject.toml asks for ({req})")
        problems += [
            f"{lock.name} pins {pin.name}=={pin.version}, outside pyproject.toml's {req}"
            for pin in found
            if not req.specifier.contains(Version(pin.version), prereleases=True)
        ]
    asked = {canonicalize_name(req.name) for req in wanted}
    problems += [
        f"{lock.name} pins {pin.name} for pyproject.toml, which no longer asks for it"
        for pin in pins
        if pin.direct and pin.name not in asked
    ]
    problems += [f"{lock.name} pins {pin.name} without a hash" for pin in pins if not pin.hashes]
    return problems


def public_resolution(lock: Path, workdir: Path) -> list[str]:
    """Resolve `lock` with pip set to the public registry alone; every way that fails or strays from the lock.

    `pip --isolated` ignores pip's configuration files and PIP_* variables (find-links, extra indexes,
    constraints). The pins go without their hashes, so pip resolves from metadata where the index serves it;
    the hash of each file pip picked must then be one the lock carries.
    """
    pins = read_lock(lock)
    plain, report = workdir / f"{lock.stem}.pins", workdir / f"{lock.stem}.report.json"
    plain.write_text("".join(f"{pin.name}=={pin.version}\n" for pin in pins.values()))
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--isolated",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--report",
            str(report),
            "-r",
            str(plain),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if pip.returncode != 0:
        return [f"{lock.name} does not resolve from the public registry: {pip.stderr.strip()[-600:]}"]
    problems, resolved = [], set()
    for item in json.loads(report.read_text())["install"]:
        name, version = canonicalize_name(item["metadata"]["name"]), item["metadata"]["version"]
        digest = item["download_info"].get("archive_info", {}).get("hashes", {}).get("sha256")
        resolved.add(name)
        pin = pins.get(name)
        if pin is None:
            problems.append(f"pip also installs {name}=={version}, which {lock.name} does not pin")
        elif Version(version) != Version(pin.version):
            problems.append(f"pip picked {name}=={version}; {lock.name} pins {pin.version}")
        elif digest not in pin.hashes:
            problems.append(f"pip picked a file of {name}=={version} (sha256 {digest}) whose hash {lock.name} lacks")
    problems += [f"pip did not install {name}, which {lock.name} pins" for name in sorted(pins.keys() - resolved)]
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lock_helpers")
    parser.add_argument("command", choices=["public"])
    parser.add_argument("locks", nargs="+", type=Path, help="locks that must resolve from the public registry")
    parser.add_argument("--must-fail", nargs="*", type=Path, default=[], help="locks that must not (controls)")
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as workdir:
        for lock in args.locks:
            problems = public_resolution(lock, Path(workdir))
            print(f"{lock}: " + ("resolves from the public registry" if not problems else "\n  ".join(problems)))
            failed |= bool(problems)
        for lock in args.must_fail:
            problems = public_resolution(lock, Path(workdir))
            print(
                f"{lock} (control): " + ("does not resolve, as it must" if problems else "RESOLVED: the check is blind")
            )
            failed |= not problems
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
