"""The seed-override hook in a real environment: runs under python -I, stays inactive unless asked,
replaces and logs each seeding call once, patches lazily imported packages, sets determinism."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

import repaudit.run as run_stage
from repaudit.env import fingerprint, prepare_environment
from repaudit.env.python import installed_interpreters
from repaudit.model import (
    ArmSpec,
    AuditSpec,
    Claim,
    Environment,
    EnvironmentKind,
    Source,
)
from repaudit.run import detect_isolation

HOOK_FILE = Path(run_stage.__file__).parent / "hook" / "repaudit_seed_hook.py"
_spec = importlib.util.spec_from_file_location("repaudit_seed_hook_under_test", HOOK_FILE)
assert _spec and _spec.loader
hook = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hook)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Environment:
    """The overlay environment repaudit builds for environment = "current" with seed_override."""
    folder = tmp_path_factory.mktemp("hook")
    spec = AuditSpec(
        claims=(Claim("acc", 0.5),),
        arms=(ArmSpec("method", "x {seed}"),),
        seeds=(1,),
        seed_override=True,
    )
    built = prepare_environment(
        spec,
        Source("x", "x", folder, "0" * 40),
        folder,
        cache_dir=folder / "cache",
        log_path=folder / "env.log",
        isolation=detect_isolation(),
    )
    assert built.kind is EnvironmentKind.CURRENT and built.python != Path(os.sys.executable)
    return built


def run(
    env: Environment, code: str, tmp_path: Path, *flags: str, log: bool = True, **variables: str
) -> tuple[str, list[dict]]:
    """Run ``code`` in the environment; with ``log``, the hook records seeding calls."""
    path = tmp_path / "calls.jsonl"
    logging = {"REPAUDIT_SEED_LOG": str(path)} if log else {}
    done = subprocess.run(
        [str(env.python), *flags, "-c", textwrap.dedent(code)],
        env={"PATH": os.environ["PATH"], **logging, **variables},
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    calls = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return done.stdout.strip(), calls


def test_inactive_without_its_variables(env: Environment, tmp_path: Path) -> None:
    out, calls = run(
        env,
        "import sys, random; random.seed(1); print('repaudit_seed_hook' in sys.modules)",
        tmp_path,
        "-I",
        log=False,
    )
    assert out == "False" and calls == []


def test_without_an_override_seeding_calls_are_observed_not_changed(
    env: Environment, tmp_path: Path
) -> None:
    """What tells "the seed never reached the code" from "the result ignores the seed"."""
    code = """
        import random, numpy as np
        random.seed(42); a = random.random()
        np.random.seed(7)
        print(a)
    """
    out, calls = run(env, code, tmp_path, "-I")
    import random

    random.seed(42)
    assert float(out) == random.random()  # the code's own seed, untouched
    assert calls == [
        {"function": "random.seed", "original": 42, "replaced_by": 42},
        {"function": "numpy.random.seed", "original": 7, "replaced_by": 7},
    ]


def test_replaces_random_and_numpy_seeds_under_python_isolated(
    env: Environment, tmp_path: Path
) -> None:
    code = """
        import random, numpy as np
        random.seed(42); a = random.random()
        random.seed(42); b = random.random()
        random.seed()  # no argument: system entropy, left alone
        np.random.seed(42); c = np.random.rand()
        d = np.random.default_rng(seed=42).random()
        e = np.random.default_rng(None).random()
        print(a == b, a, c, d)
    """
    out, calls = run(env, code, tmp_path, "-I", REPAUDIT_SEED_OVERRIDE="5")
    same, a, c, d = out.split()
    expected = hook.derive(5, 42)
    import random

    import numpy as np

    random.seed(expected)
    np.random.seed(expected)
    assert same == "True" and float(a) == random.random() and float(c) == np.random.rand()
    assert float(d) == np.random.default_rng(expected).random()
    assert [c["function"] for c in calls] == [
        "random.seed",
        "random.seed",
        "numpy.random.seed",
        "numpy.random.default_rng",
    ]
    assert all(c["original"] == 42 and c["replaced_by"] == expected for c in calls)


def test_numpy_random_state_is_seeded_and_still_a_random_state(
    env: Environment, tmp_path: Path
) -> None:
    # scikit-learn's random_state=42 becomes np.random.RandomState(42): the commonest hard-coded seed.
    code = """
        import pickle
        import numpy as np
        made = np.random.RandomState(42)
        a = made.rand()
        made.seed(seed=42)
        b = made.rand()
        print(a == b, a, isinstance(np.random.mtrand._rand, np.random.RandomState),
              isinstance(made, np.random.mtrand.RandomState), pickle.loads(pickle.dumps(made)).rand() == made.rand())
    """
    out, calls = run(env, code, tmp_path, "-I", REPAUDIT_SEED_OVERRIDE="5")
    same, a, global_is_instance, subclass_is_instance, pickles = out.split()
    expected = hook.derive(5, 42)
    import numpy as np

    assert float(a) == np.random.RandomState(expected).rand()
    assert same == global_is_instance == subclass_is_instance == pickles == "True"
    assert calls == [
        {"function": "numpy.random.RandomState", "original": 42, "replaced_by": expected},
        {"function": "numpy.random.RandomState.seed", "original": 42, "replaced_by": expected},
    ]


def test_derived_seeds_depend_on_both_seeds() -> None:
    assert hook.derive(1, 42) != hook.derive(2, 42) != hook.derive(2, 43)
    assert hook.derive(1, 42) == hook.derive(1, 42) < 2**32


def test_lazily_imported_seed_everything_is_replaced_once(env: Environment, tmp_path: Path) -> None:
    package = tmp_path / "lightning_fabric" / "utilities"
    package.mkdir(parents=True)
    (tmp_path / "lightning_fabric" / "__init__.py").write_text(
        "from lightning_fabric.utilities.seed import seed_everything\n"
    )
    (package / "__init__.py").write_text("")
    (package / "seed.py").write_text(
        "import random\n\ndef seed_everything(seed=None, workers=False):\n    random.seed(seed)\n    return seed\n"
    )
    code = "from lightning_fabric import seed_everything; print(seed_everything(7))"
    out, calls = run(env, code, tmp_path, REPAUDIT_SEED_OVERRIDE="3", PYTHONPATH=str(tmp_path))
    assert int(out) == hook.derive(3, 7)
    # seed_everything's own random.seed call is part of the replaced call, not a second one
    assert calls == [
        {"function": "seed_everything", "original": 7, "replaced_by": hook.derive(3, 7)}
    ]


@pytest.mark.slow
def test_torch_seed_and_determinism(env: Environment, tmp_path: Path) -> None:
    code = """
        import torch
        torch.manual_seed(42)
        print(torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
              torch.initial_seed())
    """
    out, calls = run(
        env, code, tmp_path, "-I", REPAUDIT_SEED_OVERRIDE="9", REPAUDIT_DETERMINISTIC="1"
    )
    assert out.split() == ["True", "True", str(hook.derive(9, 42))]
    assert calls == [
        {"function": "torch.manual_seed", "original": 42, "replaced_by": hook.derive(9, 42)}
    ]


@pytest.mark.slow
def test_the_hook_and_the_fingerprint_work_on_the_oldest_python_repaudit_supports(
    tmp_path: Path,
) -> None:
    """A venv of Python 3.6 (a paper of 2017): the hook's syntax and the fingerprint's probe."""
    if "3.6" not in {i.series for i in installed_interpreters()}:
        pytest.skip("Python 3.6 not installed (pyenv install 3.6)")
    spec = AuditSpec(
        claims=(Claim("acc", 0.5),), arms=(ArmSpec("method", "x {seed}"),), seeds=(1,),
        environment=EnvironmentKind.VENV, python="3.6", seed_override=True,
    )  # fmt: skip
    old = prepare_environment(
        spec,
        Source("x", "x", tmp_path, "0" * 40),
        tmp_path,
        cache_dir=tmp_path / "cache",
        log_path=tmp_path / "env.log",
        isolation=detect_isolation(),
    )
    code = "import random; random.seed(42); print(random.random())"
    out, calls = run(old, code, tmp_path, "-I", REPAUDIT_SEED_OVERRIDE="5")
    assert calls == [{"function": "random.seed", "original": 42, "replaced_by": hook.derive(5, 42)}]
    recorded = fingerprint(old, {}, isolation=detect_isolation())
    assert recorded.python.startswith("3.6.") and recorded.resolved_as_of == old.resolved_as_of
    assert any(p.startswith("pip==") for p in recorded.packages)
