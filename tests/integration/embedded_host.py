"""Runs one embedded AWS stack from the template named on the command line, in a process of its own (moto's
backends are per process, so a second stack cannot share the test session's). Prints the stack as one JSON
line, then serves until its stdin closes."""

import sys
from pathlib import Path

from pytoon.local.embedded import EmbeddedAWS

if __name__ == "__main__":
    embedded = EmbeddedAWS(template_path=Path(sys.argv[1]))
    print(embedded.start().to_json(), flush=True)
    sys.stdin.read()
    embedded.stop()
