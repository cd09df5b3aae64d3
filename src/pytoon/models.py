"""The domain model: one chain from request to frames.

request → JobSpec (preset defaults applied) → SceneGraph (pytoon.scenes) → Timeline (pytoon.timeline, exact
ms) → RenderPlan (frame-exact segments, caption cues, audio plan) → segment artifacts → output. Everything
that crosses a Lambda boundary is one of these models, stored in S3 or DynamoDB; Step Functions payloads
only carry ids and keys.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from pytoon.fonts import describe_characters, forbidden_characters, undrawable_characters
from pytoon.limits import MAX_CAPTION_BEATS, MAX_CAPTION_CHARS, MAX_DURATION_SECONDS, MIN_DURATION_SECONDS

FPS = 30
WIDTH = 1080
HEIGHT = 1920
AUDIO_SAMPLE_RATE = 48_000


class Archetype(StrEnum):
    PRODUCT_HERO = "PRODUCT_HERO"
    OVERLAY = "OVERLAY"
    MEME_TEXT = "MEME_TEXT"


class EnginePolicy(StrEnum):
    LOCAL_ONLY = "local_only"
    LOCAL_PREFERRED = "local_preferred"
    API_ONLY = "api_only"


class JobStatus(StrEnum):
    QUEUED = "QUEUED"
    PLANNING = "PLANNING"
    RENDERING_SEGMENTS = "RENDERING_SEGMENTS"
    ASSEMBLING = "ASSEMBLING"
    DONE = "DONE"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.DONE, JobStatus.FAILED)

    @property
    def v2(self) -> str:
        """The same status as the V2 API spells it (one lifecycle, two spellings)."""
        return _V2_STATUS[self]


_V2_STATUS = {
    JobStatus.QUEUED: "planning_scenes",
    JobStatus.PLANNING: "building_timeline",
    JobStatus.RENDERING_SEGMENTS: "rendering_scenes",
    JobStatus.ASSEMBLING: "composing",
    JobStatus.DONE: "done",
    JobStatus.FAILED: "failed",
}


class AssetCategory(StrEnum):
    IMAGE = "image"
    MASK = "mask"
    AUDIO = "audio"
    VIDEO = "video"


class AssetStatus(StrEnum):
    PENDING = "PENDING"
    READY = "READY"
    REJECTED = "REJECTED"


class SegmentStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


MotionProfile = Literal["minimal", "subtle", "smooth", "punchy", "chaotic"]
CaptionPosition = Literal["lower_third", "center", "upper_third"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CaptionStyle(_Frozen):
    font: str
    size_rules: Literal["small", "auto", "large"]
    position: CaptionPosition
    safe_margin_px: int = Field(ge=0, le=400)


class TransitionSpec(_Frozen):
    type: Literal["crossfade", "cut"]
    duration_ms: int = Field(ge=0, le=2000)


class AudioLevels(_Frozen):
    music_level_db: float = Field(ge=-60, le=0)
    voice_level_db: float = Field(ge=-60, le=0)


class OverlayFx(_Frozen):
    shadow: bool = False
    glow: bool = False


HexColour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]


class CardStyle(_Frozen):
    """A designed card (a scene with no media): a vertical gradient and its text in the preset's font."""

    font: str = "Anton"
    top: HexColour = "#2c2654"
    bottom: HexColour = "#0c0c1a"
    text: HexColour = "#ffffff"


class Preset(_Frozen):
    id: str
    name: str
    archetype: Archetype
    brand_safe: bool
    engine_policy: EnginePolicy
    caption_style: CaptionStyle
    motion_profile: MotionProfile
    transitions: TransitionSpec
    audio: AudioLevels
    overlay_fx: OverlayFx | None = None
    card: CardStyle = CardStyle()
    # External engines this preset prefers for generated scenes, best first (tried before the default chain).
    engine_preferences: list[str] = Field(default_factory=list)


def displayable(text: str) -> str:
    """Text that will be drawn on screen: refused if it holds control characters or characters no bundled
    font can draw (they would show as empty boxes)."""
    forbidden = forbidden_characters(text)
    if forbidden:
        raise ValueError(f"control and bidi-override characters are not allowed: {describe_characters(forbidden)}")
    undrawable = undrawable_characters(text)
    if undrawable:
        raise ValueError(f"no bundled font can draw {describe_characters(undrawable)}")
    return text


CaptionText = Annotated[str, Field(max_length=MAX_CAPTION_CHARS), AfterValidator(displayable)]


class Captions(_Frozen):
    """Burned-in captions, one cue each: whether they all fit the job's duration and the preset's caption
    width is checked with the request (see pytoon.caption_rules)."""

    hook: CaptionText = ""
    beats: list[CaptionText] = Field(default_factory=list, max_length=MAX_CAPTION_BEATS)
    cta: CaptionText = ""

    def texts(self) -> list[str]:
        return [t for t in [self.hook, *self.beats, self.cta] if t.strip()]


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


class MediaRef(_Frozen):
    """One entry of a job's media list, in order: a stored upload (`key`, kind known) or an https `url`
    (fetched and validated when the job is planned, which is when its kind becomes known)."""

    key: str | None = None
    url: str | None = None
    kind: MediaKind | None = None


class SpokenSentence(_Frozen):
    """Where one sentence of a voice script is heard in its voiceover, from its speech onset to its offset."""

    text: str
    start_ms: int = Field(ge=0)
    end_ms: int = Field(ge=1)


class AttemptOutcome(StrEnum):
    USED = "used"
    UNAVAILABLE = "unavailable"
    FAILED = "failed"


class Attempt(_Frozen):
    """One text-to-speech provider in the voice chain and what became of it (stored with the voiceover)."""

    provider: str
    outcome: AttemptOutcome
    reason: str | None = None


class SpokenVoice(_Frozen):
    """A job's voice script as spoken before the job is planned: the stored voiceover, the provider that spoke
    it and when each sentence is heard. The captions are these sentences, and the video lasts at least as long."""

    key: str
    provider: str
    duration_ms: int = Field(ge=1)
    sentences: list[SpokenSentence] = Field(min_length=1)


class JobSpec(_Frozen):
    """A job request with every default resolved: what the planner needs and nothing else.

    V1 jobs name their images (`image_keys`) and optional captions; V2 jobs give a prompt and an ordered
    `media` list, or a whole `scene_graph` that is rendered as given. Both become a scene graph.
    """

    job_id: str
    tenant_id: str
    api_version: Literal[1, 2] = 1
    preset: Preset
    archetype: Archetype
    brand_safe: bool
    engine_policy: EnginePolicy
    prompt: str = ""
    # The requested length; a supplied scene graph's own durations win (see `duration_ms`).
    target_duration_seconds: int = Field(ge=MIN_DURATION_SECONDS, le=MAX_DURATION_SECONDS)
    image_keys: list[str] = Field(default_factory=list)
    mask_key: str | None = None
    music_key: str | None = None
    voice_key: str | None = None
    captions: Captions | None = None
    media: list[MediaRef] = Field(default_factory=list)
    max_scenes: int | None = Field(default=None, ge=1)
    engine_override: str | None = None
    voice_script: str | None = None
    # The voice script as spoken (set by the voiceover step; None until then, and for jobs without one).
    voice: SpokenVoice | None = None
    music_name: str | None = None
    # A supplied scene graph (pytoon.scenes.SceneGraph as JSON), validated at submit.
    scene_graph: dict[str, Any] | None = None

    @property
    def duration_ms(self) -> int:
        if self.scene_graph is not None:
            return sum(scene["duration"] for scene in self.scene_graph["scenes"])
        return self.target_duration_seconds * 1000


class MotionKind(StrEnum):
    STATIC = "static"
    ZOOM_IN = "zoom_in"
    ZOOM_OUT = "zoom_out"
    PAN_UP = "pan_up"
    PAN_DOWN = "pan_down"
    PAN_LEFT = "pan_left"
    PAN_RIGHT = "pan_right"


class Motion(_Frozen):
    """Camera motion over a visual's life: zoom factor and centre move linearly (eased) from start to end.

    Zoom is relative to a frame-filling ("cover") fit, so zoom >= 1 never shows an image edge.
    Centres are fractions of the free travel (-1..1) available at the current zoom.
    """

    kind: MotionKind
    zoom_start: float = Field(ge=1.0, le=2.0)
    zoom_end: float = Field(ge=1.0, le=2.0)
    pan_x_start: float = Field(default=0.0, ge=-1.0, le=1.0)
    pan_x_end: float = Field(default=0.0, ge=-1.0, le=1.0)
    pan_y_start: float = Field(default=0.0, ge=-1.0, le=1.0)
    pan_y_end: float = Field(default=0.0, ge=-1.0, le=1.0)


class TransitionKind(StrEnum):
    CUT = "cut"
    FADE = "fade"
    FADE_BLACK = "fade_black"
    SWIPE_LEFT = "swipe_left"
    SWIPE_RIGHT = "swipe_right"


class OverlayKind(StrEnum):
    PRODUCT_IMAGE = "product_image"
    LOGO = "logo"
    TEXT = "text"
    GRAPHIC = "graphic"


OverlayPosition = Literal["center", "top-left", "top-right", "bottom-left", "bottom-right", "custom"]


class OverlayPlan(_Frozen):
    """An image or text drawn over a visual for its whole life.

    Size: `scale` times the kind's base size (see pytoon.render.overlays). Position: an anchor inside the
    platforms' safe area, or for `custom` the overlay's centre at (`x`, `y`), fractions of the frame.
    """

    kind: OverlayKind
    image_key: str | None = None  # every kind but text
    text: str | None = None  # text overlays
    position: OverlayPosition = "center"
    scale: float = Field(default=1.0, ge=0.01, le=2.0)
    opacity: float = Field(default=1.0, ge=0.0, le=1.0)
    x: float | None = Field(default=None, ge=0.0, le=1.0)
    y: float | None = Field(default=None, ge=0.0, le=1.0)


class Visual(_Frozen):
    """What one segment shows, as a function of the global frame number: an image under a moving camera,
    a video clip, or (with neither) a designed card; then its overlays.

    A visual can be evaluated slightly past its own end: the next segment's transition shows it leaving
    (a clip then plays on while it has frames, and holds its last one after).
    """

    archetype: Archetype
    image_key: str | None
    clip_key: str | None = None
    motion: Motion
    start_frame: int = Field(ge=0)
    frame_count: int = Field(ge=1)
    card_text: str = ""
    card: CardStyle = CardStyle()
    overlay_fx: OverlayFx | None = None
    overlays: list[OverlayPlan] = Field(default_factory=list)

    def asset_keys(self) -> set[str]:
        """Every stored object this visual is drawn from."""
        keys = {self.image_key, self.clip_key, *(overlay.image_key for overlay in self.overlays)}
        return {key for key in keys if key}


class CaptionCue(_Frozen):
    """One caption on screen for frames [start_frame, end_frame)."""

    index: int = Field(ge=1)
    start_frame: int = Field(ge=0)
    end_frame: int = Field(ge=1)
    text: str

    @property
    def start_seconds(self) -> float:
        return self.start_frame / FPS

    @property
    def end_seconds(self) -> float:
        return self.end_frame / FPS


class CaptionLayout(_Frozen):
    # A family name, resolved to the bundled file where the frames are drawn (plans travel between machines).
    font: str
    size_px: int
    position: CaptionPosition
    safe_margin_px: int
    boxed: bool


class SegmentPlan(_Frozen):
    index: int = Field(ge=0)
    start_frame: int = Field(ge=0)
    frame_count: int = Field(ge=1)
    visual: Visual
    # The transition from the previous segment, drawn on this segment's first `transition_frames` frames:
    # fades and swipes show `previous` leaving; fade_black's second half rises from black (no `previous`).
    transition: TransitionKind = TransitionKind.CUT
    transition_frames: int = Field(default=0, ge=0)
    previous: Visual | None = None
    # The first half of a fade_black into the next segment: this segment's last frames darken to black.
    fade_out_frames: int = Field(default=0, ge=0)
    captions: list[CaptionCue] = Field(default_factory=list)
    engine: str = "local_ffmpeg"
    # Why the engine differs from what the job's policy asked for (None when it does not).
    fallback_reason: str | None = None
    # A generated scene: the external engines to try, in order, and the prompt they are given. Until (and
    # unless) one of them delivers a clip, `visual` is the scene's designed card (or its image).
    generate_with: list[str] = Field(default_factory=list)
    generation_prompt: str | None = None
    # The scene's picture, sent to the engine (image-to-video) when it has one.
    generation_image_key: str | None = None
    spec_hash: str

    @property
    def duration_seconds(self) -> float:
        return self.frame_count / FPS

    def asset_keys(self) -> set[str]:
        """Every stored object this segment's frames are drawn from."""
        return self.visual.asset_keys() | (self.previous.asset_keys() if self.previous else set())


class AudioPlan(_Frozen):
    music_key: str | None = None
    voice_key: str | None = None
    music_level_db: float = -18.0
    voice_level_db: float = -6.0
    duck_music_under_voice: bool = True
    fade_out_seconds: float = 1.0
    target_lufs: float = -14.0
    true_peak_db: float = -1.0


class RenderPlan(_Frozen):
    job_id: str
    spec: JobSpec
    total_frames: int = Field(ge=1)
    segments: list[SegmentPlan]
    captions: list[CaptionCue]
    caption_layout: CaptionLayout
    audio: AudioPlan

    @property
    def duration_seconds(self) -> float:
        return self.total_frames / FPS
