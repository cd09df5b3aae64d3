"""Every bound the service enforces, declared once: request validation, uploads and the CLI read them here."""

from __future__ import annotations

# Output length of any job, in whole seconds.
MIN_DURATION_SECONDS = 1
MAX_DURATION_SECONDS = 60

# A job request.
MAX_PROMPT_CHARS = 2000
# A voiceover script: a minute of speech is about 1000 characters; longer scripts are refused with how long
# they take to speak, up to this size, beyond which they are not read at all.
MAX_VOICE_SCRIPT_CHARS = 5000

# Captions: hook, beats and call to action, each shown as one cue. A caption on screen for less than a second
# cannot be read, so a job shows at most one per second of its length (a request that asks for more than its
# duration can show is refused); the longest job bounds how many a request may carry at all.
MIN_CAPTION_SECONDS = 1
MAX_CAPTIONS_PER_JOB = MAX_DURATION_SECONDS // MIN_CAPTION_SECONDS
MAX_CAPTION_BEATS = MAX_CAPTIONS_PER_JOB - 2
# Characters (Unicode code points) in one caption, and the lines it may take once shaped at the smallest
# caption size (28 px) in the preset's caption width: beyond three lines a caption no longer reads as one.
MAX_CAPTION_CHARS = 150
MAX_CAPTION_LINES = 3
MAX_IMAGES_PER_JOB = 30

# Uploads. Media is validated by content; these bound what validation has to decode.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_IMAGE_EDGE = 4096
# Far above any legitimate 4096×4096 image, far below what would exhaust a Lambda's memory.
MAX_IMAGE_PIXELS = MAX_IMAGE_EDGE * MAX_IMAGE_EDGE

# Any other request body (a job, a presign request, an admin call): a few KB, with ample room.
MAX_JSON_BODY_BYTES = 64_000
# A V2 job may carry a whole scene graph: 60 scenes with overlays and long captions fit with room to spare.
MAX_V2_JOB_BODY_BYTES = 512_000

# Failed authentications one source address may make per minute (guessing keys), answered 429 beyond.
FAILED_AUTH_LIMIT_PER_MINUTE = 30

# A request body sent through API Gateway to Lambda. The gateway base64-encodes binary bodies (4 bytes per 3),
# and Lambda refuses a synchronous event over 6 MB (6,291,456 bytes), headers and request context included:
# 4,500,000 bytes become 6,000,000 after encoding and leave ~290 KB for the rest of the event.
MAX_INLINE_BODY_BYTES = 4_500_000

# Audio uploads (music, voice), checked from their headers. The rates span telephone speech to studio masters;
# anything outside them, or more channels than 7.1, is a damaged or hostile header, not a recording.
MIN_AUDIO_SAMPLE_RATE_HZ = 8_000
MAX_AUDIO_SAMPLE_RATE_HZ = 192_000
MAX_AUDIO_CHANNELS = 8
# Output is at most 60 s, so ten minutes holds any full song with room to spare and bounds the work of
# decoding and looping a track.
MAX_AUDIO_DURATION_SECONDS = 600

# V2 scene graphs. A scene shorter than a second cannot show anything readable, so a job has at most one scene
# per second of its length.
MIN_SCENE_MS = 1000
MAX_SCENES = MAX_DURATION_SECONDS * 1000 // MIN_SCENE_MS
MAX_MEDIA_PER_JOB = MAX_IMAGES_PER_JOB
# A V2 job without a target lasts this long per scene (capped at the longest job).
DEFAULT_SCENE_SECONDS = 5

# Video clips (uploads and fetched URLs), checked by decoding them with ffmpeg. A clip longer than the longest
# job could never be shown whole; 4096 px per edge matches images (4K DCI) and bounds each decoded frame.
MAX_VIDEO_SECONDS = MAX_DURATION_SECONDS
MAX_VIDEO_EDGE = 4096
# A minute of phone 4K is 200-400 MB; 200 MB holds a minute of 1080p at a generous rate and a short 4K clip.
MAX_VIDEO_UPLOAD_BYTES = 200 * 1024 * 1024
# The whole decode of the longest, largest clip must finish well inside the upload validator's Lambda timeout:
# past this the clip is refused as too costly to use, not left PENDING.
VIDEO_DECODE_TIMEOUT_SECONDS = 240

# Media fetched from https URLs (a V2 job's media list). Images and clips are validated exactly like uploads of
# the same category, and never downloaded past that category's upload size.
MAX_MEDIA_URL_CHARS = 2048
MAX_MEDIA_REDIRECTS = 3
MEDIA_FETCH_CONNECT_SECONDS = 5
# Longest silence between two reads of the response.
MEDIA_FETCH_READ_SECONDS = 15
# The whole fetch, every redirect included: at least 1.7 MB/s for the largest clip.
MEDIA_FETCH_TOTAL_SECONDS = 120
# All of one job's media URLs together, fetched one after another and validated (a clip's decode included):
# the plan step's Lambda has 300 s, and this leaves 120 s for storing the files, the LLM planner (≤ 30 s)
# and planning. One URL may still take its whole MEDIA_FETCH_TOTAL_SECONDS.
MEDIA_FETCH_JOB_SECONDS = 180

# Production runs: a brief, and a reviewer's comment on a gate.
MAX_BRIEF_CHARS = 2000
MAX_COMMENT_CHARS = 1000
