"""Reading template.yaml: CloudFormation short tags, and the functions the local runtime serves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pytoon.local import cache

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


# libyaml's parser when PyYAML was built with it (its wheels are): the pure-Python one spends about 0.1 s of
# `pytoon serve`'s start on template.yaml. Both build the same documents with the same safe constructors.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CfnLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """A SafeLoader that understands CloudFormation's short tags: `!GetAtt A.B` → `{"Fn::GetAtt": ["A", "B"]}`,
    `!Ref X` → `{"Ref": "X"}`, `!Condition C` → `{"Condition": "C"}`, any other `!Name` → `{"Fn::Name": …}`."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
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


CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as a document, from local mode's cache when this text was read before by this reader."""
    text = path.read_bytes()
    name = cache.entry_name(text, yaml.__version__, Path(__file__).read_bytes())
    found = cache.read("template", name)
    if found is not None:
        return found[0]
    document = yaml.load(text.decode("utf-8"), Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    cache.write("template", name, document)
    return document


@dataclass(frozen=True)
class FunctionDef:
    logical_id: str
    code_uri: str
    handler: str
    timeout: int
    memory_mb: int

    def module_file(self, root: Path) -> Path:
        """The handler's source file: Lambda loads `app` from the CodeUri folder, so this does too."""
        return root / self.code_uri / (self.handler.rsplit(".", 1)[0].replace(".", "/") + ".py")

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


def functions(template: dict[str, Any]) -> list[FunctionDef]:
    globals_ = template.get("Globals", {}).get("Function", {})
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        found.append(
            FunctionDef(
                logical_id=logical_id,
                code_uri=props["CodeUri"],
                handler=props["Handler"],
                timeout=int(props.get("Timeout", globals_.get("Timeout", 3))),
                memory_mb=int(props.get("MemorySize", globals_.get("MemorySize", 128))),
            )
        )
    return found
