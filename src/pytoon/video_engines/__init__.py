"""External video engine adapters (one per provider) and what they share (`base`)."""
