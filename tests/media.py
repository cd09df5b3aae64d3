"""Test helpers: synthetic inputs (images, tones) and decoding of what the renderer wrote (PyAV)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from pytoon.models import (
    Archetype,
    AudioPlan,
    CaptionCue,
    CaptionLayout,
    JobSpec,
    Motion,
    MotionKind,
    OverlayFx,
    RenderPlan,
    SegmentPlan,
    TransitionKind,
    Visual,
)
from pytoon.presets import get_preset
from pytoon.render.ffmpeg import media_input, output_target, run_ffmpeg
from pytoon.render.segment import segment_command

# --- synthetic inputs ----------------------------------------------------------------------------------


def product_photo(path: Path, size: tuple[int, int] = (900, 1100), body: tuple[int, int, int] = (30, 110, 160)) -> Path:
    """A bright, opaque product shot: a bottle on a light table top."""
    w, h = size
    image = Image.new("RGB", size, (236, 226, 210))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, int(h * 0.72), w, h), fill=(200, 180, 160))
    draw.rounded_rectangle((w * 0.38, h * 0.2, w * 0.62, h * 0.78), radius=int(w * 0.05), fill=body)
    draw.rectangle((w * 0.45, h * 0.12, w * 0.55, h * 0.22), fill=(20, 20, 20))
    draw.rectangle((w * 0.40, h * 0.42, w * 0.60, h * 0.55), fill=(245, 245, 245))
    image.save(path, quality=92)
    return path


def cutout_png(path: Path, size: tuple[int, int] = (400, 800), colour: tuple[int, int, int] = (200, 60, 80)) -> Path:
    """A transparent PNG with an opaque rectangle "product" exactly filling it (aspect 1:2)."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((0, 0, size[0] - 1, size[1] - 1), fill=(*colour, 255))
    padded = Image.new("RGBA", (size[0] + 200, size[1] + 100), (0, 0, 0, 0))
    padded.paste(image, (100, 50))
    padded.save(path)
    return path


def flat_image(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (720, 1280)) -> Path:
    Image.new("RGB", size, colour).save(path, quality=95)
    return path


def textured_image(path: Path, size: tuple[int, int] = (800, 1400), seed: int = 3) -> Path:
    """Bright, detailed content, so motion is visible in every frame and black edges would stand out."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    base = np.stack([150 + 80 * np.sin(x / 37.0), 150 + 80 * np.cos(y / 23.0), 150 + 60 * np.sin((x + y) / 29.0)], -1)
    base += rng.normal(0, 6, base.shape)
    Image.fromarray(base.clip(60, 255).astype(np.uint8)).save(path, quality=92)
    return path


def tone(path: Path, source: str, seconds: float, *, channels: int = 2, rate: int = 44100) -> Path:
    """An audio file from an ffmpeg lavfi source expression (sine, noise, aevalsrc), format by extension."""
    codec = ["-c:a", "libmp3lame", "-b:a", "160k"] if path.suffix == ".mp3" else ["-c:a", "pcm_s16le"]
    run_ffmpeg(
        ["-f", "lavfi", "-i", source, "-t", str(seconds), "-ac", str(channels), "-ar", str(rate), *codec,
         "-y", str(path)],
        timeout=60,
    )  # fmt: skip
    return path


def music_bed(path: Path, seconds: float = 3.0) -> Path:
    """Music-like: a bass line with a decaying kick every half second, a chord and some pink noise."""
    beat = "0.8*sin(2*PI*55*t)*exp(-8*mod(t,0.5))+0.12*sin(2*PI*220*t)+0.08*sin(2*PI*330*t)"
    return tone(path, f"aevalsrc='{beat}|{beat}':s=44100:d={seconds}", seconds)


def speech_like(path: Path, seconds: float = 2.0) -> Path:
    """Voice-like: a 180 Hz buzz in 0.5 s bursts every 0.8 s, mono 24 kHz as TTS often is."""
    expression = "0.4*sin(2*PI*180*t)*sin(2*PI*360*t)*lt(mod(t,0.8),0.5)"
    return tone(path, f"aevalsrc='{expression}':s=24000:d={seconds}", seconds, channels=1, rate=24000)


# Encoder settings per clip container: near-lossless, so decoded frames keep their colours to a few levels.
_CLIP_CODECS = {
    ".mp4": ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "4", "-pix_fmt", "yuv420p", "-movflags", "+faststart"],
    ".mov": ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "4", "-pix_fmt", "yuv420p", "-f", "mov"],
    ".webm": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-crf", "4", "-b:v", "0",
              "-pix_fmt", "yuv420p"],
}  # fmt: skip


def make_test_clip(
    path: Path,
    *,
    seconds: float = 1.0,
    fps: int = 30,
    size: tuple[int, int] = (320, 240),
    colours: Sequence[tuple[int, int, int]] = ((220, 40, 40), (40, 200, 60), (40, 60, 220)),
    audio: bool = False,
) -> Path:
    """A video clip with known frames, encoded with the bundled ffmpeg (H.264 in .mp4/.mov, VP9 in .webm).

    Frame n of the round(seconds * fps) frames is one flat colour, colours[n * len(colours) // frames]: the
    colours follow each other in runs as equal as the frame count allows (one colour per frame tells every
    frame apart). `audio` adds a 440 Hz tone (AAC, Opus in WebM) as long as the picture. MP4s are written
    with their index first, so a cut-off copy still opens and fails only where its frames are missing.
    """
    frames = round(seconds * fps)
    width, height = size
    palette = np.array(colours, dtype=np.uint8)
    picture = palette[np.arange(frames) * len(colours) // frames]
    return encode_clip(path, np.broadcast_to(picture[:, None, None, :], (frames, height, width, 3)), fps, audio)


def encode_clip(path: Path, pictures: np.ndarray, fps: int, audio: bool = False) -> Path:
    """RGB frames (n, height, width, 3) encoded as a clip by its extension (see make_test_clip)."""
    frames, height, width, _ = pictures.shape
    sound = ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={frames / fps}"] if audio else []
    audio_codec = (["-c:a", "libopus" if path.suffix == ".webm" else "aac", "-shortest"]) if audio else []
    run_ffmpeg(
        ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "pipe:0",
         *sound, *_CLIP_CODECS[path.suffix], *audio_codec, "-y", str(path)],
        input=pictures.tobytes(),
        timeout=120,
    )  # fmt: skip
    return path


# --- plans ---------------------------------------------------------------------------------------------


def motion(kind: MotionKind = MotionKind.ZOOM_IN, zoom: tuple[float, float] = (1.0, 1.15), **pans: float) -> Motion:
    return Motion(kind=kind, zoom_start=zoom[0], zoom_end=zoom[1], **pans)


def visual(
    archetype: Archetype = Archetype.PRODUCT_HERO,
    image_key: str | None = "img",
    start: int = 0,
    count: int = 30,
    **fields: object,
) -> Visual:
    fields.setdefault("motion", motion())
    if archetype is Archetype.OVERLAY:
        fields.setdefault("overlay_fx", OverlayFx(shadow=True, glow=True))
    return Visual(archetype=archetype, image_key=image_key, start_frame=start, frame_count=count, **fields)


def segment(
    vis: Visual,
    index: int = 0,
    *,
    previous: Visual | None = None,
    crossfade: int = 0,
    transition: TransitionKind | None = None,
    fade_out: int = 0,
    captions: list[CaptionCue] | None = None,
) -> SegmentPlan:
    """A segment showing `vis`; `crossfade` frames of transition from `previous` (a fade unless `transition`
    says otherwise), `fade_out` frames darkening into a fade_black."""
    if transition is None:
        transition = TransitionKind.FADE if crossfade else TransitionKind.CUT
    return SegmentPlan(
        index=index,
        start_frame=vis.start_frame,
        frame_count=vis.frame_count,
        visual=vis,
        transition=transition,
        transition_frames=crossfade,
        previous=previous,
        fade_out_frames=fade_out,
        captions=captions or [],
        spec_hash=f"test-{index}",
    )


def render_plan(
    segments: list[SegmentPlan],
    layout: CaptionLayout,
    *,
    captions: list[CaptionCue] | None = None,
    audio: AudioPlan | None = None,
    total_frames: int | None = None,
) -> RenderPlan:
    preset = get_preset("overlay_glow")
    frames = sum(s.frame_count for s in segments) if total_frames is None else total_frames
    spec = JobSpec(
        job_id="job-1",
        tenant_id="tenant-1",
        preset=preset,
        archetype=preset.archetype,
        brand_safe=preset.brand_safe,
        engine_policy=preset.engine_policy,
        target_duration_seconds=max(1, round(frames / 30)),
    )
    return RenderPlan(
        job_id="job-1",
        spec=spec,
        total_frames=frames,
        segments=segments,
        captions=captions if captions is not None else [c for s in segments for c in s.captions],
        caption_layout=layout,
        audio=audio or AudioPlan(),
    )


# --- decoding ------------------------------------------------------------------------------------------


@dataclass
class VideoStream:
    width: int
    height: int
    pix_fmt: str
    codec: str
    profile: str | None
    fps: Fraction
    frames: int
    pts: list[int]
    keyframes: list[int]  # frame numbers of the keyframes
    time_base: Fraction
    duration_seconds: float
    colorspace: int
    color_range: int


def video_stream(path: Path) -> VideoStream:
    """Stream facts plus the presentation timestamp of every packet (in decode order)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        packets = [packet for packet in container.demux(stream) if packet.size]
        pts = [packet.pts for packet in packets]
        frames_per_tick = stream.average_rate * stream.time_base
        return VideoStream(
            width=ctx.width,
            height=ctx.height,
            pix_fmt=ctx.pix_fmt,
            codec=ctx.name,
            profile=ctx.profile,
            fps=stream.average_rate,
            frames=len(pts),
            pts=pts,
            keyframes=[round(packet.pts * frames_per_tick) for packet in packets if packet.is_keyframe],
            time_base=stream.time_base,
            duration_seconds=float(stream.duration * stream.time_base),
            colorspace=ctx.colorspace,
            color_range=ctx.color_range,
        )


def graph_frames(plan: SegmentPlan, layout: CaptionLayout, files: Mapping[str, Path], work: Path) -> list[np.ndarray]:
    """The segment's frames straight from its ffmpeg graph, before x264 (which would blur exact comparisons):
    RGB arrays (H, W, 3) from the graph's yuv420p by the exact BT.709 limited-range inverse."""
    work.mkdir(parents=True, exist_ok=True)
    command = segment_command(plan, layout, files, work)
    raw = run_ffmpeg([*command, "-pix_fmt", "yuv420p", "-f", "rawvideo", "pipe:1"], timeout=120).stdout
    return [_bt709_to_rgb(planes) for planes in np.frombuffer(raw, np.uint8).reshape(-1, 1920 * 3 // 2, 1080)]


def _bt709_to_rgb(planes: np.ndarray) -> np.ndarray:
    kr, kb = 0.2126, 0.0722
    y = (planes[:1920].astype(np.float32) - 16) * np.float32(255 / 219)
    cb, cr = ((c.astype(np.float32) - 128) * np.float32(255 / 224) for c in planes[1920:].reshape(2, 960, 540))
    # Chroma back to full size (nearest); then R = Y + 2(1-Kr) Cr, B = Y + 2(1-Kb) Cb, G from Y = Kr R + Kg G + Kb B.
    r_off, b_off = (np.float32(2 * (1 - k)) * c for k, c in ((kr, cr), (kb, cb)))
    g_off = -(np.float32(kr) * r_off + np.float32(kb) * b_off) / np.float32(1 - kr - kb)
    offsets = np.stack([r_off, g_off, b_off], axis=-1).repeat(2, axis=0).repeat(2, axis=1)
    return np.clip(y[..., None] + offsets + 0.5, 0, 255).astype(np.uint8)


def decode_frames(path: Path, wanted: set[int] | None = None) -> dict[int, np.ndarray]:
    """RGB arrays (H, W, 3) of the given frame numbers (all when None), converted from YUV with the
    matrix the stream is tagged with, as a player would."""
    frames: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if wanted is None or number in wanted:
                frames[number] = frame.to_ndarray(format="rgb24")
    return frames


@dataclass
class AudioStream:
    codec: str
    profile: str | None
    sample_rate: int
    channels: int
    duration_seconds: float
    samples: np.ndarray  # (channels, n) float32


def audio_stream(path: Path) -> AudioStream:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        chunks = [frame.to_ndarray() for frame in container.decode(stream)]
        return AudioStream(
            codec=ctx.name,
            profile=ctx.profile,
            sample_rate=ctx.sample_rate,
            channels=ctx.channels,
            duration_seconds=float(stream.duration * stream.time_base),
            samples=np.concatenate(chunks, axis=1),
        )


# Where tests leave the frames they check, for a person to look at.
LOOK = Path(tempfile.gettempdir()) / "pytoon-look"


def save_png(frame: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame).save(path)
    return path


# --- clips ---------------------------------------------------------------------------------------------

CLIP_BITS = 7  # frames numbered 0..127
CLIP_ONE, CLIP_ZERO = (230, 200, 40), (40, 70, 200)  # yellow and blue: no black anywhere in a clip frame


def counter_clip(
    path: Path,
    frames: int = 48,
    *,
    fps: int = 24,
    size: tuple[int, int] = (640, 360),
    audio: bool = False,
    rotation: int = 0,
) -> Path:
    """An MP4 (H.264) clip whose frame i shows i in binary: CLIP_BITS horizontal bands, most significant on top,
    yellow for 1 and blue for 0, over the whole width (so any centre crop keeps every band), with a thin red
    vertical line at 40 % and 60 % of the width. `audio` adds a sine track; `rotation` stores the picture
    turned by that many degrees with a display matrix that turns it back (as phones record)."""
    w, h = size
    pictures = np.empty((frames, h, w, 3), np.uint8)
    band = np.minimum(np.arange(h) * CLIP_BITS // h, CLIP_BITS - 1)
    for i in range(frames):
        bits = np.array([(i >> (CLIP_BITS - 1 - b)) & 1 for b in range(CLIP_BITS)], bool)[band]
        pictures[i] = np.where(bits[:, None, None], CLIP_ONE, CLIP_ZERO)
        for fraction in (0.4, 0.6):
            x = round(fraction * w)
            pictures[i, :, x - 2 : x + 2] = (220, 30, 30)
    if not rotation:
        return encode_clip(path, pictures, fps, audio)
    stored = encode_clip(
        path.with_suffix(".stored.mp4"), np.ascontiguousarray(np.rot90(pictures, rotation // 90, (1, 2))), fps, audio
    )
    run_ffmpeg(
        ["-display_rotation", str(-rotation), *media_input(stored), "-c", "copy", "-y", output_target(path)], timeout=60
    )
    stored.unlink()
    return path


def clip_frame_number(frame: np.ndarray) -> int:
    """The number counter_clip drew on a frame, read from the middle of each band (any cover fit of the clip
    keeps the bands' full height)."""
    h = frame.shape[0]
    rows = [round((b + 0.5) * h / CLIP_BITS) for b in range(CLIP_BITS)]
    bits = [int(frame[row, frame.shape[1] // 4 : -frame.shape[1] // 4, 0].mean() > 135) for row in rows]
    return int("".join(map(str, bits)), 2)
