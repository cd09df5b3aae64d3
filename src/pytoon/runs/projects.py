"""Projects are data: each `projects/<name>.json` says what a production run of that kind makes (how many clips of
what length, the preset, music and voice of its render, how its ideas are written, where it is published).

Every file is validated once, when the projects are first read; a bad file raises ProjectFileError naming the
file and the field. Adding a project needs no code.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Formatter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pytoon.content_rules import ContentRefusedError, check_prompt
from pytoon.errors import PytoonError
from pytoon.limits import MAX_CAPTION_CHARS, MAX_DURATION_SECONDS, MIN_CAPTION_SECONDS, MIN_DURATION_SECONDS
from pytoon.models import CaptionLayout, displayable
from pytoon.runs.models import UnknownProjectError

# Upload-Post's platform names (the publisher's targets).
Platform = Literal["tiktok", "instagram", "youtube", "facebook", "linkedin", "x", "threads", "pinterest"]
_HASHTAG = re.compile(r"#\w{1,50}")
MAX_HASHTAGS = 8
# The brief's words the deterministic ideator puts into captions are at most this long (longer ones are left
# out), so a caption template that fits with a word this long fits with any.
MAX_KEYWORD_CHARS = 16
_LONGEST_KEYWORD = "W" * MAX_KEYWORD_CHARS
# What the templates of the deterministic ideator may name.
_SUBJECT, _KEYWORD = "subject", "keyword"


class ProjectFileError(PytoonError):
    """A project file that cannot be used; the message names the file and the field."""


def hashtag_problem(tag: str) -> str | None:
    """Why `tag` is not a hashtag a platform shows as one (`#` and 1-50 letters, digits or _), or None."""
    if not _HASHTAG.fullmatch(tag):
        return f"{tag[:60]!r} is not a hashtag (# and 1 to 50 letters, digits or _)"
    return None


def allowed_words(text: str, what: str) -> str:
    """`text`, once the content rules allow it (a refusal is a ValueError: a field's error)."""
    try:
        check_prompt(text, what)
    except ContentRefusedError as exc:
        raise ValueError(str(exc)) from None
    return text


def _fields(template: str) -> set[str]:
    return {name for _text, name, _spec, _conversion in Formatter().parse(template) if name is not None}


def _template(template: str, allowed: set[str], required: set[str]) -> str:
    try:
        names = _fields(template)
    except ValueError as exc:
        raise ValueError(f"not a template ({exc})") from None
    if names - allowed or not required <= names:
        need = f" and must hold {{{next(iter(required))}}}" if required else ""
        raise ValueError(f"may hold only {', '.join(f'{{{n}}}' for n in sorted(allowed))}{need}, got {template!r}")
    return allowed_words(template, "the template")


class CaptionStyle(BaseModel):
    """How the ideas' captions are written. How they look (font, size, position, margin) is the preset's: the
    render draws each caption in the preset's caption style, as written here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Each clip's caption, in characters (the preset's caption width bounds it too: at most MAX_CAPTION_LINES).
    max_chars: int = Field(ge=8, le=MAX_CAPTION_CHARS)
    # Captions in capitals (a project without a voice: with one, the shown captions are the spoken sentences).
    uppercase: bool = False


class ShotIdea(BaseModel):
    """One shot the deterministic ideator can use: a clip prompt around the brief's {subject}, and its caption
    (which may name one of the brief's words, {keyword})."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str = Field(min_length=1, max_length=300)
    caption: str = Field(min_length=1, max_length=MAX_CAPTION_CHARS)

    _prompt = field_validator("prompt")(lambda value: _template(value, {_SUBJECT}, {_SUBJECT}))
    _caption = field_validator("caption")(lambda value: displayable(_template(value, {_KEYWORD}, set())))


class Project(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"[a-z][a-z0-9_]{0,39}")
    title: str = Field(min_length=1, max_length=80)
    description: str = Field(min_length=1, max_length=500)
    clip_count: int = Field(ge=1, le=MAX_DURATION_SECONDS // MIN_CAPTION_SECONDS)
    # Whole seconds: the engines are asked for whole seconds (each for its next allowed length).
    clip_seconds: int = Field(ge=MIN_CAPTION_SECONDS, le=MAX_DURATION_SECONDS)
    preset_id: str
    # A track of the music library (pytoon.music).
    music: str
    # Whether a run's ideas include a voice script, spoken over the video (its sentences become the captions).
    voice: bool
    caption_style: CaptionStyle
    # Told to the LLM ideator as the project's brief; also what a reviewer reads about the project.
    ideation_guidance: str = Field(min_length=1, max_length=2000)
    # The deterministic ideator's openings (around {subject}) and shots; it uses `clip_count` different shots.
    hooks: list[str] = Field(min_length=1)
    shots: list[ShotIdea] = Field(min_length=1)
    hashtags: list[str] = Field(default_factory=list, max_length=MAX_HASHTAGS)
    publish_targets: list[Platform] = Field(min_length=1)
    # The engine asked first for the clips (its chain follows, see video_engines.selection.prompt_chain); None
    # for the preset's preference or the default engine.
    engine: str | None = None
    # The template of the Remotion render service that renders this project's runs when the service is
    # configured; None renders them here, as a V2 job.
    remotion_template: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")

    _hooks = field_validator("hooks")(lambda hooks: [displayable(_template(h, {_SUBJECT}, {_SUBJECT})) for h in hooks])

    @field_validator("title", "description", "ideation_guidance")
    @classmethod
    def _allowed_words(cls, value: str) -> str:
        return allowed_words(value, "the text")

    @field_validator("preset_id")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        from pytoon.presets import UnknownPresetError, get_preset

        try:
            get_preset(value)
        except UnknownPresetError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("music")
    @classmethod
    def _known_track(cls, value: str) -> str:
        from pytoon.music import UnknownTrackError, get_track

        try:
            get_track(value)
        except UnknownTrackError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str | None) -> str | None:
        from pytoon.video_engines.selection import engine_config

        engines = engine_config().engines
        if value is not None and value not in engines:
            raise ValueError(f"{value!r} is not a video engine (known: {', '.join(engines)}) or null")
        return value

    @field_validator("hashtags")
    @classmethod
    def _hashtags(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            problem = hashtag_problem(tag)
            if problem:
                raise ValueError(problem)
        if len({tag.lower() for tag in tags}) != len(tags):
            raise ValueError("hashtags repeat")
        return tags

    @field_validator("publish_targets")
    @classmethod
    def _targets_once(cls, targets: list[str]) -> list[str]:
        if len(set(targets)) != len(targets):
            raise ValueError("targets repeat")
        return targets

    @model_validator(mode="after")
    def _consistent(self) -> Project:
        if not MIN_DURATION_SECONDS <= self.total_seconds <= MAX_DURATION_SECONDS:
            raise ValueError(
                f"clip_count × clip_seconds is {self.total_seconds} s; a video lasts {MIN_DURATION_SECONDS} to "
                f"{MAX_DURATION_SECONDS} s"
            )
        if len(self.shots) < self.clip_count:
            raise ValueError(f"shots: {len(self.shots)} shots for {self.clip_count} clips; each clip needs its own")
        if self.voice and self.caption_style.uppercase:
            raise ValueError("caption_style.uppercase: with a voice the shown captions are the spoken sentences")
        self._captions_fit()
        return self

    def _captions_fit(self) -> None:
        """Every caption template fits the caption style and the preset's caption width with the longest word."""
        from pytoon.presets import get_preset
        from pytoon.render.captions import caption_layout

        layout = caption_layout(get_preset(self.preset_id).caption_style)
        for number, shot in enumerate(self.shots):
            caption = self.written_caption(shot.caption, _LONGEST_KEYWORD)
            label = f"shots.{number}.caption (with a {MAX_KEYWORD_CHARS}-character {{keyword}})"
            problem = caption_problem(label, caption, self.caption_style.max_chars, layout)
            if problem:
                raise ValueError(problem)

    @property
    def total_seconds(self) -> int:
        return self.clip_count * self.clip_seconds

    def written_caption(self, template: str, keyword: str) -> str:
        """A caption template with its {keyword}, as this project writes captions (capitals or not)."""
        caption = template.format(keyword=keyword) if _KEYWORD in _fields(template) else template
        caption = caption[:1].upper() + caption[1:]
        return caption.upper() if self.caption_style.uppercase else caption


def caption_problem(label: str, caption: str, max_chars: int, layout: CaptionLayout) -> str | None:
    """Why a clip's caption cannot be shown as one caption (longer than the project writes them, more than one
    sentence, or what the V2 caption rules refuse in the preset's caption width), or None."""
    from pytoon.caption_rules import text_problem
    from pytoon.scene_planner import sentences

    if len(caption) > max_chars:
        return f"{label}: {len(caption)} characters, more than caption_style.max_chars ({max_chars})"
    if len(sentences(caption)) > 1:
        return f"{label}: one sentence per caption (a scene shows each sentence as a caption of its own)"
    return text_problem(label, caption, layout)


def _problem(error: dict) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "(the document)"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"


def project_from_file(path: Path | Traversable) -> Project:
    """The project a file describes; ProjectFileError naming the file and the field when it is not usable."""
    label = f"project file {path.name}"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProjectFileError(f"{label}: not readable JSON ({exc})") from None
    try:
        project = Project.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(_problem(error) for error in exc.errors()[:3])
        raise ProjectFileError(f"{label}: {problems}") from None
    if project.name != path.name.removesuffix(".json"):
        raise ProjectFileError(f"{label}: name: {project.name!r} is not the file's name")
    return project


@cache
def _projects() -> dict[str, Project]:
    folder = resources.files(__package__).joinpath("projects")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)
    return {project.name: project for project in map(project_from_file, files)}


def project_names() -> list[str]:
    return list(_projects())


def get_project(name: str) -> Project:
    try:
        return _projects()[name]
    except KeyError:
        raise UnknownProjectError(f"unknown project {name!r}; known projects: {', '.join(project_names())}") from None
