"""Walking an ASL definition: state sets (top level and nested processors), states, and key/value pairs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def iter_state_sets(definition: dict[str, Any], where: str = "") -> Iterator[tuple[str, dict[str, Any], str]]:
    """Yield (scope, States, StartAt) for the top level and every nested Map/Parallel processor."""
    yield where or "<top>", definition["States"], definition["StartAt"]
    for name, state in definition["States"].items():
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from iter_state_sets(state[key], f"{where}{name}.{key}/")
        for index, branch in enumerate(state.get("Branches", [])):
            yield from iter_state_sets(branch, f"{where}{name}.Branches[{index}]/")


def iter_states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """Yield (qualified name, state, is_top_level) for every state at every depth."""
    for scope, states, _ in iter_state_sets(definition):
        for name, state in states.items():
            yield (name if scope == "<top>" else scope + name), state, scope == "<top>"


def walk(node: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair at any depth; list items inherit the key of their list."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from walk(v, k)
    elif isinstance(node, list):
        for item in node:
            if not isinstance(item, dict | list):
                yield key, item
            else:
                yield from walk(item, key)
