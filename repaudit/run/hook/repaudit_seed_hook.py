"""repaudit's startup hook for audited code: seed override and determinism (standard library only).

Installed by repaudit next to ``repaudit_seed_hook.pth`` in the site-packages of the environment the
seeds run in; site.py runs the .pth line at every interpreter start (also under ``python -I``), and
that line imports this module only when one of its variables is set:

    REPAUDIT_SEED_OVERRIDE  the audit seed: seeding calls get a value derived from it and their own
    REPAUDIT_SEED_LOG       file that gets one JSON line per seeding call; without an override the
                            calls are only observed (``replaced_by`` equals ``original``), which tells
                            "the seed never reached the code" from "the result ignores the seed"
    REPAUDIT_DETERMINISTIC  "1": torch.use_deterministic_algorithms(True), cuDNN deterministic

Nothing is imported eagerly: a meta-path finder patches each module right after it is first
imported, so a run that never imports torch pays nothing for torch's patch. Only integer seeds are
replaced (None, arrays and generator objects pass through), and a seeding call made from inside
another patched one (transformers' set_seed calls torch.manual_seed) is passed through unchanged, so
each call the program makes is replaced and logged once. The hook never breaks the program: a
failure to patch leaves the original function in place.
"""

import functools
import hashlib
import json
import operator
import os
import sys
import threading

_MAX_LOGGED = 1000  # per process: a seeding call in a loop must not fill the disk

# module -> (attribute, name in the log, name of the seed parameter); patched where each function is
# defined, before the packages that re-export it bind the name.
_TARGETS = {
    "random": (("seed", "random.seed", "a"),),
    "numpy.random": (
        ("seed", "numpy.random.seed", "seed"),
        ("default_rng", "numpy.random.default_rng", "seed"),
    ),
    "torch.random": (("manual_seed", "torch.manual_seed", "seed"),),
    "torch.cuda.random": (("manual_seed_all", "torch.cuda.manual_seed_all", "seed"),),
    "lightning_fabric.utilities.seed": (("seed_everything", "seed_everything", "seed"),),
    "lightning.fabric.utilities.seed": (("seed_everything", "seed_everything", "seed"),),
    "pytorch_lightning.utilities.seed": (("seed_everything", "seed_everything", "seed"),),
    "transformers.trainer_utils": (("set_seed", "transformers.set_seed", "seed"),),
    "accelerate.utils.random": (("set_seed", "accelerate.set_seed", "seed"),),
}

# module -> (class, name in the log, name of the seed parameter): seeded through a subclass, since
# replacing a class by a function would break isinstance checks. numpy's RandomState also covers
# scikit-learn, whose random_state=42 becomes np.random.RandomState(42).
_CLASS_TARGETS = {
    "numpy.random": (("RandomState", "numpy.random.RandomState", "seed"),),
}

_audit_seed = None
_deterministic = False
_log_path = None
_logged = 0
_state = threading.local()


def derive(audit_seed, original):
    """The replacement for ``original`` under ``audit_seed``: 32 bits, valid for numpy and torch."""
    digest = hashlib.sha256(f"{audit_seed}:{original}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def install():
    """Read the variables and put the finder first on sys.meta_path; patch what is already imported."""
    global _audit_seed, _deterministic, _log_path
    seed = os.environ.get("REPAUDIT_SEED_OVERRIDE")
    _audit_seed = int(seed) if seed else None
    _deterministic = os.environ.get("REPAUDIT_DETERMINISTIC") == "1"
    _log_path = os.environ.get("REPAUDIT_SEED_LOG")
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    for name in [*_TARGETS, "torch"]:  # _CLASS_TARGETS' modules are all in _TARGETS
        module = sys.modules.get(name)
        if module is not None:
            _patch(name, module)


def _patch(name, module):
    try:
        if _audit_seed is not None or _log_path:
            for attribute, label, parameter in _TARGETS.get(name, ()):
                function = getattr(module, attribute, None)
                if callable(function) and not getattr(function, "__repaudit_wrapped__", False):
                    setattr(module, attribute, _wrap(function, label, parameter))
            for attribute, label, parameter in _CLASS_TARGETS.get(name, ()):
                cls = getattr(module, attribute, None)
                if isinstance(cls, type) and not getattr(cls, "__repaudit_wrapped__", False):
                    setattr(module, attribute, _seeded_subclass(cls, label, parameter))
        if name == "torch" and _deterministic:
            module.use_deterministic_algorithms(True)
            module.backends.cudnn.deterministic = True
            module.backends.cudnn.benchmark = False
    except Exception as error:  # never break the audited program's import
        print(f"repaudit seed hook: could not patch {name}: {error}", file=sys.stderr)


def _wrap(function, label, parameter):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if getattr(_state, "inside", False):
            return function(*args, **kwargs)
        args, kwargs = _replace(label, parameter, args, kwargs)
        _state.inside = True
        try:
            return function(*args, **kwargs)
        finally:
            _state.inside = False

    wrapper.__repaudit_wrapped__ = True
    return wrapper


def _seeded_subclass(cls, label, parameter):
    """``cls`` whose constructor and ``.seed()`` get replaced seeds. Objects made before the patch
    (numpy's global RandomState) must still pass ``isinstance(x, np.random.RandomState)``, hence the
    metaclass that answers isinstance and issubclass for the original class."""

    class _Meta(type(cls)):
        def __instancecheck__(self, instance):
            return isinstance(instance, cls)

        def __subclasscheck__(self, subclass):
            return issubclass(subclass, cls)

    def __init__(self, *args, **kwargs):
        if not getattr(_state, "inside", False):
            args, kwargs = _replace(label, parameter, args, kwargs)
        cls.__init__(self, *args, **kwargs)

    def seed(self, *args, **kwargs):
        if not getattr(_state, "inside", False):
            args, kwargs = _replace(f"{label}.seed", parameter, args, kwargs)
        return cls.seed(self, *args, **kwargs)

    members = {"__init__": __init__, "seed": seed, "__repaudit_wrapped__": True}
    members.update(__module__=cls.__module__, __qualname__=cls.__qualname__, __doc__=cls.__doc__)
    return _Meta(cls.__name__, (cls,), members)


def _replace(label, parameter, args, kwargs):
    if args:
        value = args[0]
    elif parameter in kwargs:
        value = kwargs[parameter]
    else:
        return args, kwargs
    if isinstance(value, bool):
        return args, kwargs
    try:
        original = operator.index(value)  # ints and numpy integers; not None, floats or arrays
    except TypeError:
        return args, kwargs
    replaced = original if _audit_seed is None else derive(_audit_seed, original)
    _record(label, original, replaced)
    if args:
        return (replaced, *args[1:]), kwargs
    return args, {**kwargs, parameter: replaced}


def _record(label, original, replaced):
    global _logged
    if not _log_path or _logged >= _MAX_LOGGED:
        return
    _logged += 1
    line = json.dumps({"function": label, "original": original, "replaced_by": replaced})
    try:
        with open(_log_path, "a", encoding="utf-8") as log:
            log.write(line + "\n")
    except OSError:
        pass


class _Finder:
    """Finds nothing itself: wraps the real loader of a target module so it is patched on import."""

    def find_spec(self, name, path=None, target=None):
        if name not in _TARGETS and name != "torch":
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader, name)
                return spec
        return None


class _PatchingLoader:
    def __init__(self, loader, name):
        self._loader = loader
        self._name = name

    def __getattr__(self, attribute):  # get_resource_reader, get_source, is_package, ...
        return getattr(self._loader, attribute)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _patch(self._name, module)
