"""The audit spec: find, load and validate it (repaudit.toml, [tool.repaudit], the registry, flags),
write it back as TOML, and infer a draft for `repaudit init`."""

from repaudit.spec.infer import Inferred, infer_spec, init_spec
from repaudit.spec.load import SpecOverrides, check_spec_file, load_spec, spec_hash
from repaudit.spec.published import json_schema
from repaudit.spec.schema import check_alpha, parse_duration, parse_size
from repaudit.spec.toml import spec_to_toml

__all__ = [
    "Inferred",
    "SpecOverrides",
    "check_alpha",
    "check_spec_file",
    "infer_spec",
    "init_spec",
    "json_schema",
    "load_spec",
    "parse_duration",
    "parse_size",
    "spec_hash",
    "spec_to_toml",
]
