"""Every provider's fake served at once, with the environment pointed at them: what
`pytoon serve --fake-providers` runs, so scenes are generated and production runs published end to end on one
machine (the four video engines, an OpenAI-compatible LLM and Upload-Post)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from pytoon.local.fakes.luma_video import fake_luma_video
from pytoon.local.fakes.openai_chat import fake_openai_chat
from pytoon.local.fakes.pika_video import fake_pika_video
from pytoon.local.fakes.runway_video import fake_runway_video
from pytoon.local.fakes.sora_video import fake_sora_video
from pytoon.local.fakes.upload_post import fake_upload_post


@contextmanager
def fake_video_providers() -> Iterator[dict[str, str]]:
    """Serve the fakes and set each provider's key and base URL to them until the block ends (the previous
    values come back); yields provider → base URL. Text-to-speech stays offline unless configured: OpenAI's base
    URL now points at the video fake, which does not speak."""
    with ExitStack() as fakes:
        runway = fakes.enter_context(fake_runway_video())
        luma = fakes.enter_context(fake_luma_video())
        pika = fakes.enter_context(fake_pika_video())
        sora = fakes.enter_context(fake_sora_video())
        upload_post = fakes.enter_context(fake_upload_post())
        llm = fakes.enter_context(fake_openai_chat())
        urls = {
            "runway": runway.api_url,
            "luma": luma.api_url,
            "pika": pika.base_url,
            "sora": sora.api_url,
            "upload-post": upload_post.api_url,
            "llm": llm.api_url,
        }
        environment = {
            "RUNWAY_API_KEY": runway.api_key,
            "RUNWAY_BASE_URL": urls["runway"],
            "LUMA_API_KEY": luma.api_key,
            "LUMA_BASE_URL": urls["luma"],
            "PIKA_API_KEY": pika.api_key,
            "PIKA_BASE_URL": urls["pika"],
            "OPENAI_API_KEY": sora.api_key,
            "OPENAI_BASE_URL": urls["sora"],
            # One LLM for the service: V2 jobs plan with it, runs ideate with it, the supervisor chats with it.
            "PYTOON_PLANNER_LLM_BASE_URL": urls["llm"],
            "PYTOON_PLANNER_LLM_MODEL": "gpt-4o-mini",
            "PYTOON_PLANNER_LLM_API_KEY": llm.api_key,
            "UPLOAD_POST_API_KEY": upload_post.api_key,
            "UPLOAD_POST_BASE_URL": urls["upload-post"],
            "UPLOAD_POST_USER": upload_post.user,
            "PYTOON_TTS_PROVIDERS": os.environ.get("PYTOON_TTS_PROVIDERS", "espeak"),
        }
        previous = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)
        try:
            yield urls
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
