"""S3 key layout: deterministic, so a retried step overwrites rather than duplicates."""


def job_prefix(job_id: str) -> str:
    return f"jobs/{job_id}/"


def spec_key(job_id: str) -> str:
    return f"jobs/{job_id}/spec.json"


def plan_key(job_id: str) -> str:
    return f"jobs/{job_id}/plan.json"


def scene_graph_key(job_id: str) -> str:
    return f"jobs/{job_id}/scene_graph.json"


def timeline_key(job_id: str) -> str:
    return f"jobs/{job_id}/timeline.json"


def segment_key(job_id: str, index: int) -> str:
    return f"jobs/{job_id}/segments/seg_{index:03d}.mp4"


def voiceover_key(job_id: str) -> str:
    return f"jobs/{job_id}/voiceover.wav"


def voiceover_facts_key(job_id: str) -> str:
    return f"jobs/{job_id}/voiceover.json"


def generation_key(job_id: str, index: int) -> str:
    return f"jobs/{job_id}/generation/seg_{index:03d}.json"


def generated_clip_key(job_id: str, index: int) -> str:
    return f"jobs/{job_id}/clips/seg_{index:03d}.mp4"


def audio_key(job_id: str) -> str:
    return f"jobs/{job_id}/audio.m4a"


def audio_facts_key(job_id: str) -> str:
    return f"jobs/{job_id}/audio.json"


def output_key(job_id: str) -> str:
    return f"jobs/{job_id}/output.mp4"


def thumbnail_key(job_id: str) -> str:
    return f"jobs/{job_id}/thumbnail.jpg"


def captions_key(job_id: str) -> str:
    return f"jobs/{job_id}/captions.srt"


def metadata_key(job_id: str) -> str:
    return f"jobs/{job_id}/metadata.json"


def upload_key(upload_id: str, filename: str) -> str:
    return f"uploads/{upload_id}/{filename}"


def fetched_media_key(job_id: str, number: int, suffix: str) -> str:
    """A media file a job named by https URL, fetched and validated when the job was planned."""
    return f"jobs/{job_id}/media/{number:02d}{suffix}"


def run_generation_key(run_id: str, index: int) -> str:
    return f"runs/{run_id}/generation/clip_{index:02d}.json"


def run_clip_key(run_id: str, index: int) -> str:
    return f"runs/{run_id}/clips/clip_{index:02d}.mp4"


def run_render_key(run_id: str) -> str:
    """A run's video as the Remotion render service made it."""
    return f"runs/{run_id}/render.mp4"
