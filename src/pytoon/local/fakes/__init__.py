"""Loopback fakes of the external video engines' APIs (Runway, Luma, Pika through fal.ai, OpenAI video): real
HTTP servers on 127.0.0.1 that check requests as the providers do, run tasks through their lifecycles, serve
real clips and can be scripted to misbehave. `pytoon serve --fake-providers` runs them so the whole engine path
works on one machine; the tests drive them directly."""
