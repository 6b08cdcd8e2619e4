"""Refresh the checked-in outputs of every example (`make examples`).

Run from the repository root: paths in the outputs are relative to it, so the
files are the same on every machine. tests/test_examples.py checks that the
checked-in copies match what the code produces now.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tierstack.generator.catalog import load_catalog
from tierstack.generator.errors import UserError
from tierstack.generator.fsio import write_atomic
from tierstack.generator.report import explain_data, explain_text, resolved_text
from tierstack.generator.resolve import resolve
from tierstack.generator.spec import load_spec

EXAMPLES = Path("examples")


def example_configs(root: Path = EXAMPLES) -> list[Path]:
    return sorted(root.glob("*/tierstack.yaml"))


def outputs(config: Path) -> dict[str, str]:
    """The checked-in files of one example: name -> text."""
    catalog = load_catalog()
    resolved = resolve(load_spec(config), catalog)
    return {
        "explain.txt": explain_text(explain_data(resolved, catalog)),
        "resolved.txt": resolved_text(resolved, provenance=True),
    }


def main() -> int:
    if not EXAMPLES.is_dir():
        print("run from the repository root (no examples/ here)", file=sys.stderr)
        return 2
    for config in example_configs():
        try:
            files = outputs(config)
        except UserError as err:
            print(f"error: {err.render()}", file=sys.stderr)
            return 2
        for name, text in files.items():
            write_atomic(config.parent / name, text)
            print(f"wrote {config.parent / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
