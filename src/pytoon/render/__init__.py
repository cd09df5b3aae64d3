"""Media rendering: frames composed with Pillow/numpy, x264-encoded per segment, joined by stream copy."""
