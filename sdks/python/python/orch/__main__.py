"""`python -m orch run FILE.py:FLOW [--param KEY=VALUE].. [--params JSON]`."""

from .runtime import entry

if __name__ == "__main__":
    entry()
