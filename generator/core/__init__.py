"""Core: what every layer uses and that imports nothing of tierstack.

Errors with their exit codes (errors.py, exit_codes.py, pydantic_errors.py), bounded and atomic file I/O
(fsio.py), YAML (yamlio.py), the name grammars (grammars.py, naming.py).
"""
