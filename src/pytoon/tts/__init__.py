"""Text-to-speech engines: one module per provider, what they share in `base`; `pytoon.voice` chains them."""
