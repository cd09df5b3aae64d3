"""Contract tests: template.yaml, the ASL files and the function entry points agree (offline, no Docker)."""
