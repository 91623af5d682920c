"""fingerprint and detect_gpus: packages and versions as the seeds' interpreter sees them, no
secrets, GPUs from a fake nvidia-smi honouring the granted devices."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from repaudit.env import detect_gpus, fingerprint, prepare_environment
from repaudit.model import ArmSpec, AuditSpec, Claim, Isolation, Source
from repaudit.run import detect_isolation


def test_fingerprint_records_packages_torch_and_only_safe_variables(tmp_path: Path) -> None:
    env = prepare_environment(
        AuditSpec(claims=(Claim("acc", 0.5),), arms=(ArmSpec("m", "x {seed}"),), seeds=(1,)),
        Source("x", "x", tmp_path, "0" * 40),
        tmp_path,
        cache_dir=tmp_path / "c",
        log_path=tmp_path / "l",
        isolation=detect_isolation(),
    )
    variables = {"OMP_NUM_THREADS": "2", "GITHUB_TOKEN": "ghp_x", "PROXY": "http://u:p@h:1"}
    recorded = fingerprint(env, variables, isolation=Isolation.UNSHARE_NET, varying=("SEED",))
    import numpy
    import torch

    assert f"numpy=={numpy.__version__}" in recorded.packages
    assert recorded.torch == torch.__version__ and recorded.python.startswith(
        sys.version.split()[0]
    )
    assert recorded.variables == {"OMP_NUM_THREADS": "2"}
    assert recorded.cpu and recorded.cpu_count == os.cpu_count()
    assert recorded.isolation is Isolation.UNSHARE_NET and recorded.varying == ("SEED",)
    assert recorded.repaudit_version
    assert recorded.environment == f"current interpreter ({sys.executable})"
    assert recorded.torch_from == "system"


FAKE_NVIDIA_SMI = """#!/bin/sh
echo "0, GPU-aaaa, NVIDIA H100 80GB HBM3, 81559, 550.54.15"
echo "1, GPU-bbbb, NVIDIA H100 80GB HBM3, 81559, 550.54.15"
"""


def test_detect_gpus_reads_nvidia_smi_and_honours_the_granted_devices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text(FAKE_NVIDIA_SMI)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    gpus = detect_gpus()
    assert gpus == ("NVIDIA H100 80GB HBM3 (81559 MiB, driver 550.54.15)",) * 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-bbbb")
    assert len(detect_gpus()) == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert detect_gpus() == ()
