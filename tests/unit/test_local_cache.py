"""Local mode's cache of parsed inputs: entries named by content, misses instead of errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pytoon.local import cache
from pytoon.local.template import load_template


@pytest.fixture(autouse=True)
def cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(folder))
    return folder


def test_an_entry_comes_back_as_written_from_a_folder_only_its_user_can_read(cache_folder: Path) -> None:
    data = cache.write("kind", "name", {"a": [1, 2.5, None]})
    assert cache.read("kind", "name") == ({"a": [1, 2.5, None]}, data)
    assert stat.S_IMODE((cache_folder / "kind").stat().st_mode) == 0o700
    assert [p.name for p in (cache_folder / "kind").iterdir()] == ["name"]  # nothing left aside


def test_a_missing_or_unloadable_entry_is_a_miss(cache_folder: Path) -> None:
    assert cache.read("kind", "absent") is None
    cache.write("kind", "name", [1])
    (cache_folder / "kind" / "name").write_bytes(b"\x80\x05truncated")
    assert cache.read("kind", "name") is None


def test_a_cache_that_cannot_be_written_still_returns_the_pickle(cache_folder: Path) -> None:
    cache_folder.write_text("a file where the folder should be")
    data = cache.write("kind", "name", "value")
    assert data and cache.read("kind", "name") is None


def test_entry_names_depend_on_every_part_and_its_place() -> None:
    names = {cache.entry_name("a", "b"), cache.entry_name("b", "a"), cache.entry_name("ab"), cache.entry_name(b"a")}
    assert len(names) == 4 and cache.entry_name("a", "b") == cache.entry_name("a", b"b")


def test_the_template_reads_the_same_from_the_cache_and_a_changed_template_is_read_again(
    cache_folder: Path, tmp_path: Path
) -> None:
    template = tmp_path / "template.yaml"
    template.write_text("Resources:\n  Fn:\n    Properties:\n      Role: !GetAtt Role.Arn\n      Name: !Ref Stack\n")
    first = load_template(template)
    assert (
        first
        == load_template(template)
        == {"Resources": {"Fn": {"Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}, "Name": {"Ref": "Stack"}}}}}
    )
    assert load_template(template) is not load_template(template)  # every caller gets a document of its own
    template.write_text("Resources: {}\n")
    assert load_template(template) == {"Resources": {}}
    assert len(list((cache_folder / "template").iterdir())) == 2
