"""The audit spec: find, load and validate it (repaudit.toml, [tool.repaudit], the registry, flags),
write it back as TOML, and infer a draft for `repaudit init`."""

from repaudit.spec.infer import Inferred, infer_spec, init_spec
from repaudit.spec.load import SpecOverrides, load_spec, spec_hash
from repaudit.spec.schema import DEFAULT_LOOKS, parse_duration, parse_size, schedule
from repaudit.spec.toml import spec_to_toml

__all__ = [
    "DEFAULT_LOOKS",
    "Inferred",
    "SpecOverrides",
    "infer_spec",
    "init_spec",
    "load_spec",
    "parse_duration",
    "parse_size",
    "schedule",
    "spec_hash",
    "spec_to_toml",
]
