"""The audit spec: find, load and validate it (repaudit.toml, [tool.repaudit], the registry, flags),
write it back as TOML, and infer a draft for `repaudit init`."""

from repaudit.spec.infer import Draft, infer_spec, observed
from repaudit.spec.infer_metric import Metric
from repaudit.spec.infer_render import refuse_overwrite, write_draft
from repaudit.spec.infer_render import render as render_draft
from repaudit.spec.load import (
    SpecOverrides,
    check_spec_file,
    check_workdir,
    find_spec,
    load_spec,
    spec_hash,
)
from repaudit.spec.published import json_schema
from repaudit.spec.schema import DEFAULT_LOOKS, check_alpha, parse_duration, parse_size, schedule
from repaudit.spec.toml import spec_to_toml

__all__ = [
    "DEFAULT_LOOKS",
    "Draft",
    "Metric",
    "SpecOverrides",
    "check_alpha",
    "check_spec_file",
    "check_workdir",
    "find_spec",
    "infer_spec",
    "json_schema",
    "load_spec",
    "observed",
    "parse_duration",
    "parse_size",
    "refuse_overwrite",
    "render_draft",
    "schedule",
    "spec_hash",
    "spec_to_toml",
    "write_draft",
]
