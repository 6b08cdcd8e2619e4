"""Where tierstack writes by default, and how it shows a path: defined once, imported everywhere else.

`generate` writes a tierstack.yaml's stacks into `cdktf.out/` beside it, and a fleet member's into
`<member>/cdktf.out/` beside the fleet file (or below --out); plan, apply, docs, verify and the CI read
them there. A path in a message is shown relative to the working directory when it is below it, so the
same run prints the same text wherever the repository is checked out. Imports nothing of tierstack.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_OUT = "cdktf.out"  # generate's output directory, beside a config (and in each fleet member's folder)


def default_out(config: Path) -> Path:
    """The output directory of a config when no --out is given: `cdktf.out/` beside it."""
    return config.parent / DEFAULT_OUT


def member_out(root: Path, member: str) -> Path:
    """A fleet member's output directory: `<root>/<member>/cdktf.out/` (root: the fleet file's folder or --out)."""
    return root / member / DEFAULT_OUT


def display_path(path: Path | str) -> str:
    """A path relative to the working directory when it is below it, so output is the same everywhere."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel
