"""The oldest Terraform (and OpenTofu) tierstack works with: one definition, read everywhere else.

`plan` and `apply` refuse an older binary, and `review` asks for a plan made with this one or newer: 1.7 is
the first to write plan JSON format 1.2 with `removed` blocks, what review reads (OpenTofu from 1.7 too).
"""

from __future__ import annotations

MIN_TERRAFORM = (1, 7, 0)


def version_text(version: tuple[int, ...]) -> str:
    """(1, 7, 0) as 1.7.0: how a message shows a version."""
    return ".".join(map(str, version))


MIN_TERRAFORM_TEXT = version_text(MIN_TERRAFORM[:2])  # "1.7", as the docs and hints say it
