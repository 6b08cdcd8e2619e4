"""What generate, --check and --diff compare, for a config and for a fleet member alike (issue 21).

`tierstack generate CONFIG` (generator/cli/generate.py) and each member of `generate FLEET`
(generator/services/fleet.py) write, check and diff the same way; they differ only in how they say it.
The comparisons live here once: what changed since the last generation, as generate swaps the new tree in;
what a regeneration would change (--diff); nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tierstack.generator.core.errors import UserError

if TYPE_CHECKING:
    from tierstack.generator.analysis.diff import Report
    from tierstack.generator.output.generate import Preview

SIDES = ("last generation", "this one")  # how the report of a generation names its two sides


@dataclass(frozen=True)
class SinceLast:
    """A generation against the last one: the report (the first generation's has every stack added), or,
    when the last generation cannot be read (a hand edit replaced with --force, say), why not."""

    report: Report | None
    unreadable: str | None = None
    first: bool = False  # no last generation: the report has every stack added


def since_last(old: Path, new: Path, stacks: list[str] | None) -> SinceLast:
    """The output directory `old` (perhaps not there yet) against the new tree `new`, for `stacks` (all: None)."""
    from tierstack.generator.analysis import diff as diffing

    after = diffing.load_synthesis(new, stacks=stacks)
    if not (old / "stacks").is_dir():  # the first generation: nothing to compare with
        return SinceLast(diffing.compare({}, after, *SIDES), first=True)
    try:
        before = diffing.load_synthesis(old, stacks=stacks)
    except UserError as exc:
        return SinceLast(None, exc.message)
    return SinceLast(diffing.compare(before, after, *SIDES))


def preview_diff(new: Preview, environments: list[str] | None, shown: str, head: str) -> Report:
    """--diff: the output directory (`shown` as the run names it) as it is against the preview's fresh
    synthesis, `head` naming the run. With environments, only the stacks the preview synthesized are
    compared (the others are carried over as they are)."""
    from tierstack.generator.analysis import diff as diffing

    chosen = None if environments is None else new.stacks
    before = diffing.load_synthesis(new.out, shown, chosen) if (new.out / "stacks").is_dir() else {}
    return diffing.compare(before, diffing.load_synthesis(new.tree, shown, chosen), shown, head)
