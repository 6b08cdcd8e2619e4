"""The pages of a resolved config as files: each synthesized stack read back through the bounded reader,
its page written beside its cdk.tf.json (generate's `write_stack_docs`), and `tierstack docs`' pages of
an output directory, with a warning for each README.md there that differs from its page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tierstack.generator.output.docs.about import StackDoc, summary
from tierstack.generator.output.docs.markdown import page

PAGE = "README.md"  # beside cdk.tf.json, in stacks/<stack>/
MAX_PAGE_BYTES = 4 * 1024 * 1024  # a page is tens of KiB; the README.md read back to compare is bounded by this


def pages(resolved: Any, out: Path, stacks: list[str] | None = None) -> dict[str, str]:
    """Stack name -> its page, for the stacks of `resolved` (or those named) synthesized in `out`."""
    from tierstack.generator.facts.catalog import load_catalog

    about = summary(resolved, load_catalog())
    result = {}
    for stack, env in about["environments"].items():
        if stacks is None or stack in stacks:
            result[stack] = page(StackDoc(stack, about, env, _stack_data(out, stack)))
    return result


def _stack_data(out: Path, stack: str) -> Any:
    """A synthesized stack through the bounded reader (a FIFO, a sparse 4 GB file, JSON nested deeper than
    any walk over it can go, a link out of `out`: a UserError naming it); not a JSON object, too."""
    from tierstack.generator.config.blueprint import display_path
    from tierstack.generator.core import fsio
    from tierstack.generator.core.errors import UserError
    from tierstack.generator.synth.stacks import stack_file

    path = stack_file(out, stack)
    hint = "run `tierstack generate` again"
    data = fsio.read_json(path, "Terraform JSON stack", fsio.MAX_JSON_BYTES, hint, shown=display_path(path), within=out)
    if not isinstance(data, dict):
        raise UserError("not a Terraform JSON stack (no top-level object)", file=display_path(path), hint=hint)
    return data


def _anything_at(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def write_stack_docs(resolved: Any, tree: Path, stacks: list[str]) -> None:
    """generate's call: each synthesized stack's page, beside its cdk.tf.json in the new output tree."""
    for stack, text in pages(resolved, tree, stacks).items():
        (tree / "stacks" / stack / PAGE).write_text(text, encoding="utf-8", newline="\n")


def synthesized_pages(resolved: Any, out: Path, environments: list[str]) -> tuple[list[str], list[str]]:
    """`tierstack docs`: the pages of the stacks generate wrote in `out` (every environment, or those named),
    in promotion order, and a warning for each page that differs from the README.md generate wrote beside
    its stack (the config changed since: generate again)."""
    from tierstack.generator.config.blueprint import display_path
    from tierstack.generator.core import fsio
    from tierstack.generator.core.errors import UserError, did_you_mean
    from tierstack.generator.synth.stacks import stack_file

    known = {env.name: env.stack for env in resolved.environments.values()}
    for env in environments:
        if env not in known:
            hint = did_you_mean(env, list(known)) or "environments: " + ", ".join(known)
            raise UserError(f"no environment '{env}' in this use case", field="--env", hint=hint)
    stacks = [known[env] for env in environments] if environments else list(known.values())
    # anything there (a FIFO, a directory, a link) is read, and so refused by name; only nothing is missing
    missing = [stack for stack in stacks if not _anything_at(stack_file(out, stack))]
    if missing:
        config = display_path(resolved.loaded.path)
        raise UserError(
            f"no synthesized stack {', '.join(missing)} in {display_path(out)}",
            file=display_path(out),
            field="--out",
            hint=f"run `tierstack generate {config}` first (or give --out, the directory generate wrote)",
        )
    texts = pages(resolved, out, stacks)
    warnings = []
    for stack in stacks:
        written = out / "stacks" / stack / PAGE
        if not written.is_file():
            continue
        try:
            limit = max(MAX_PAGE_BYTES, 4 * len(texts[stack]))
            same = fsio.read_text(written, PAGE, limit, limit_of="a stack's page") == texts[stack]
        except UserError as err:  # too large, not UTF-8, unreadable: it cannot be this page
            warnings.append(f"{display_path(written)} is not this page: {err.message}; run `tierstack generate`")
            continue
        if not same:
            warnings.append(
                f"{display_path(written)} differs from this page: the config changed since generate wrote "
                f"{display_path(out)}; run `tierstack generate` (the stacks may be stale too)"
            )
    return [texts[stack] for stack in stacks], warnings
