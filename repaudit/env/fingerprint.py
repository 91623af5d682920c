"""Fingerprint the machine and the seeds' interpreter: enough to explain a difference between audits.

Python, OS, CPU model and count, GPUs with memory and driver (nvidia-smi), torch / CUDA / cuDNN and
every installed package as the seeds' interpreter sees them, the variables repaudit set (never
anything that looks like a credential), and repaudit's version.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from repaudit import __version__
from repaudit.model import Environment, EnvironmentKind, Fingerprint, Isolation
from repaudit.run import base_environment, is_secret, run_contained

# Runs in the seeds' interpreter, which may be as old as Python 3.6: importlib.metadata (3.8+) is
# not there, so the distributions' metadata files are read along sys.path by hand (the first of a
# name is the one imported). Reads torch's version.py rather than importing torch (seconds, and CUDA
# initialisation); cuDNN is the version of the wheel torch loads it from.
_FINGERPRINT_PROBE = """
import email.parser, importlib.util, json, os, platform, re, sys
packages = {}
for folder in sys.path:
    if not os.path.isdir(folder):
        continue
    for entry in sorted(os.listdir(folder)):
        path = os.path.join(folder, entry)
        if entry.endswith(".dist-info"):
            path = os.path.join(path, "METADATA")
        elif entry.endswith(".egg-info"):
            path = os.path.join(path, "PKG-INFO") if os.path.isdir(path) else path
        else:
            continue
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                headers = email.parser.Parser().parse(f, headersonly=True)
        except OSError:
            continue
        name, version = headers.get("Name"), headers.get("Version")
        key = re.sub(r"[-_.]+", "-", name or "").lower()
        if name and version and key not in packages:
            packages[key] = (name, version)
info = {"python": "%s (%s)" % (platform.python_version(), platform.python_implementation()),
        "packages": sorted(("%s==%s" % nv for nv in packages.values()), key=str.lower)}
spec = importlib.util.find_spec("torch")
if spec and spec.submodule_search_locations:
    version = {}
    with open(os.path.join(list(spec.submodule_search_locations)[0], "version.py")) as f:
        exec(f.read(), version)
    info["torch"], info["cuda"] = version.get("__version__"), version.get("cuda")
    info["cudnn"] = next((v for k, (n, v) in packages.items() if k.startswith("nvidia-cudnn")), None)
print(json.dumps(info))
"""


def fingerprint(
    environment: Environment,
    variables: Mapping[str, str],
    *,
    isolation: Isolation,
    varying: tuple[str, ...] = (),
) -> Fingerprint:
    """Python, OS, CPU, GPUs, torch/CUDA/cuDNN and every package as the seeds' interpreter sees them,
    plus how the seeds ran: the variables every seed shared (names that look like credentials are
    left out), the names set per seed, and the weakest isolation any seed had (the probe runs
    under it too)."""
    probed = probe(
        environment.python,
        _FINGERPRINT_PROBE,
        readonly=environment.readonly_paths,
        isolation=isolation,
    )
    info = json.loads(probed or "{}")
    return Fingerprint(
        python=info.get("python", platform.python_version()),
        platform=platform.platform(),
        cpu=_cpu_model(),
        cpu_count=os.cpu_count() or 1,
        gpus=detect_gpus(),
        torch=info.get("torch"),
        cuda=info.get("cuda"),
        cudnn=info.get("cudnn"),
        packages=tuple(info.get("packages", ())),
        variables={k: v for k, v in sorted(variables.items()) if not is_secret(k, v)},
        repaudit_version=__version__,
        isolation=isolation,
        environment=describe(environment),
        torch_from=environment.torch_from,
        varying=varying,
        python_reason=environment.python_reason,
        resolved_as_of=environment.resolved_as_of,
    )


def describe(environment: Environment) -> str:
    """The seeds' interpreter in plain words, for the report's provenance."""
    if environment.kind is EnvironmentKind.CURRENT:
        return f"current interpreter ({sys.executable})"
    key = (environment.cache_key or "")[:12]
    cached = "reused from the cache" if environment.reused else "built for this audit"
    return (
        f"venv {key} ({cached}): Python {environment.python_version} "
        f"({environment.python_reason}), packages as of {environment.resolved_as_of}"
    )


def probe(python: Path, code: str, *, readonly: Sequence[Path], isolation: Isolation) -> str:
    """Run ``code`` in the interpreter ``python``, contained like a seed (at ``isolation``) that may
    read ``readonly``; its stdout ('' on error)."""
    with tempfile.TemporaryDirectory(prefix="repaudit-probe-") as scratch:
        folder = Path(scratch)
        outcome = run_contained(
            f"{shlex.quote(str(python))} -c {shlex.quote(code)}",
            isolation=isolation,
            cwd=folder,
            env={**base_environment(python.parent), "HOME": scratch},
            stdout_path=folder / "out",
            stderr_path=folder / "err",
            timeout_seconds=300,
            writable=[folder],
            readonly=readonly,
        )
        return (folder / "out").read_text().strip() if outcome.returncode == 0 else ""


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def detect_gpus() -> tuple[str, ...]:
    """The GPUs repaudit may hand to seeds, in slot order ("name (memory, driver)"); () when none.

    nvidia-smi when present, else torch.cuda. Under CUDA_VISIBLE_DEVICES (Slurm sets it) only the
    granted devices are listed, in that order, matching how sandbox maps slots to devices.
    """
    if shutil.which("nvidia-smi"):
        query = "--query-gpu=index,uuid,name,memory.total,driver_version"
        try:
            done = subprocess.run(
                ["nvidia-smi", query, "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return ()
        rows = [
            [c.strip() for c in line.split(",")]
            for line in done.stdout.splitlines()
            if line.count(",") >= 4
        ]
        if done.returncode != 0:
            return ()
        if "CUDA_VISIBLE_DEVICES" in os.environ:
            wanted = [d.strip() for d in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if d.strip()]
            rows = [
                next(r for r in rows if d in (r[0], r[1]))
                for d in wanted
                if any(d in (r[0], r[1]) for r in rows)
            ]
        return tuple(
            f"{name} ({memory} MiB, driver {driver})" for _, _, name, memory, driver in rows
        )
    # Importing torch costs seconds: ask it only where a CUDA (/dev/nvidia*) or ROCm (/dev/kfd) device
    # node exists at all, so a CPU-only machine's audit does not pay for it.
    if not (list(Path("/dev").glob("nvidia[0-9]*")) or Path("/dev/kfd").exists()):
        return ()
    if importlib.util.find_spec("torch") is None:
        return ()
    import torch

    if not torch.cuda.is_available():
        return ()
    return tuple(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
