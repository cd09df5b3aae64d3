"""Media rendering: frames composed with Pillow/numpy, encoded per segment with x264, joined by stream copy."""
