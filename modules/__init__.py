"""One CDK-for-Terraform construct per capability (see docs/design.md, 'Capabilities').

Not Terraform modules: each file here is a Python class that declares one capability (its catalog
entry, settings, needs and outputs) and builds its resources into a stack. Defining the class
registers it (modules/base.py); `registry()` loads the built-in capabilities, in catalog order, any
other capability file in this folder after them, then those of installed packages that declare a
`tierstack.capabilities` entry point (a team's own capability, packaged; never named by a config,
which comes from other teams and must not choose what code runs). Importing them is cheap: the cdktn bindings load
only when `tierstack generate` builds a stack. A capability from outside tierstack that fails to load (its import,
or a declaration its class gets wrong) is named with its package or file and blamed: exit 2, not an internal error.
"""

from __future__ import annotations

import pkgutil
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from importlib import import_module, metadata
from pathlib import Path

from tierstack.modules.base import CapabilityError, CapabilityModule, registered

# The catalog's order, after the ML lifecycle: explain, docs and the settings list them in it.
BUILT_IN = (
    "foundation",
    "cost_controls",
    "experimentation",
    "data_processing",
    "data_sources",
    "model_training",
    "model_evaluation",
    "golden_set",
    "model_serving",
    "online_experimentation",
    "model_monitoring",
    "serving_slos",
    "ml_pipelines",
    "model_registry",
    "feature_repository",
    "metadata_tracking",
)
HELPERS = frozenset({"base", "beta"})  # files here that are not capabilities


ENTRY_POINTS = "tierstack.capabilities"  # the group a package declares its capabilities in


@cache
def _load_package() -> None:
    for name in BUILT_IN:
        import_module(f"{__name__}.{name}")  # tierstack's own: a failure here is a bug in tierstack
    found = sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
    for info in (m for m in found if m.name not in (*BUILT_IN, *HELPERS)):
        path = str(Path(getattr(info.module_finder, "path", "."), info.name + ("" if info.ispkg else ".py")))
        with _blamed(f"the capability file {info.name} added to tierstack's modules/", f"remove {path}", path):
            import_module(f"{__name__}.{info.name}")
    for entry in sorted(metadata.entry_points(group=ENTRY_POINTS), key=lambda e: e.name):
        dist = entry.dist
        package = f"{dist.name} {dist.version}" if dist is not None else "an installed package"
        remove = f"pip uninstall {dist.name}" if dist is not None else "uninstall the package that declares it"
        with _blamed(f"the plugin '{entry.name} = {entry.value}' ({ENTRY_POINTS}) of {package}", remove):
            entry.load()  # the module defines its class, which registers itself


@contextmanager
def _blamed(plugin: str, remove: str, file: str | None = None) -> Iterator[None]:
    """A plugin that fails to load is its author's to fix: say which one and why, exit 2 (not a bug report)."""
    try:
        yield
    except CapabilityError:
        raise
    except Exception as error:  # whatever its code raised: an import, a declaration, a syntax error
        where, line = _failing_line(error, file)
        raise CapabilityError(
            f"{plugin} failed to load: {type(error).__name__}: {error}",
            file=where,
            line=line,
            hint=f"this is a problem in that capability, not in tierstack or your config: have its author fix it, "
            f"or {remove}",
        ) from error


def _failing_line(error: BaseException, file: str | None) -> tuple[str | None, int | None]:
    """Where in the plugin's own code the error was raised: the last frame in its file (when known), else
    the last outside tierstack's code."""
    if isinstance(error, SyntaxError):
        return error.filename, error.lineno
    ours = (str(Path(__file__).parent), str(Path(__file__).parent.parent / "generator"), "<")
    frames = traceback.extract_tb(error.__traceback__)
    theirs = (
        [f for f in frames if f.filename == file] if file else [f for f in frames if not f.filename.startswith(ours)]
    )
    return (theirs[-1].filename, theirs[-1].lineno) if theirs else (file, None)


def registry() -> Mapping[str, type[CapabilityModule]]:
    """Every capability: the built-ins in catalog order, then the others in the order they were defined
    (whatever order the files happened to be imported in)."""
    _load_package()
    classes = registered()
    return {
        **{name: classes[name] for name in BUILT_IN},
        **{name: cls for name, cls in classes.items() if name not in BUILT_IN},
    }


def capability_class(capability: str) -> type[CapabilityModule]:
    return registry()[capability]


def build_order(selected: list[str]) -> list[str]:
    """The selected capabilities in catalog order, except that each comes after those it reads from
    (its `after`): a stable topological order, so the catalog's order holds wherever it can."""
    classes = registry()
    pending, done = list(selected), []
    while pending:
        ready = next(
            (c for c in pending if all(a in done or a not in selected for a in classes[c].after)),
            None,
        )
        if ready is None:
            raise RuntimeError(f"capabilities wait for each other in a cycle: {', '.join(pending)} (their `after`)")
        pending.remove(ready)
        done.append(ready)
    return done
