"""Load CloudFormation/SAM YAML; short-form intrinsics (`!Ref`, `!GetAtt`, `!Sub`...) become long forms.

`!GetAtt A.B` becomes `{"Fn::GetAtt": ["A", "B"]}`, `!Ref X` becomes `{"Ref": "X"}`, `!Condition C` becomes
`{"Condition": "C"}`, and every other `!Name` becomes `{"Fn::Name": ...}`. The result is what CloudFormation
and samtranslator see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["CfnLoader", "load_template", "loads"]


class CfnLoader(yaml.SafeLoader):
    """A SafeLoader that understands CloudFormation's short tags."""


def _construct_intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


CfnLoader.add_multi_constructor("!", _construct_intrinsic)


def loads(text: str) -> dict[str, Any]:
    return yaml.load(text, Loader=CfnLoader)  # noqa: S506 - a SafeLoader subclass


def load_template(path: Path) -> dict[str, Any]:
    return loads(Path(path).read_text(encoding="utf-8"))
