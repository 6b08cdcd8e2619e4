"""One CDK-for-Terraform construct per capability (see DESIGN.md, 'Capabilities').

Not Terraform modules: each file here is a Python class that declares one capability (its catalog
entry, settings, needs and outputs) and builds its resources into a stack. Defining the class
registers it (modules/base.py); `registry()` loads the built-in capabilities, in catalog order, any
other capability file in this folder after them, then those of installed packages that declare a
`tierstack.capabilities` entry point (a team's own capability, packaged; never named by a config,
which comes from other teams and must not choose what code runs). Importing them is cheap: the cdktn bindings load
only when `tierstack generate` builds a stack.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Mapping
from functools import cache
from importlib import import_module, metadata

from tierstack.modules.base import CapabilityModule, registered

# The catalog's order, after the ML lifecycle: explain, docs and the settings list them in it.
BUILT_IN = (
    "foundation",
    "cost_controls",
    "experimentation",
    "data_processing",
    "model_training",
    "model_evaluation",
    "model_serving",
    "online_experimentation",
    "model_monitoring",
    "ml_pipelines",
    "model_registry",
    "feature_repository",
    "metadata_tracking",
)
HELPERS = frozenset({"base", "beta"})  # files here that are not capabilities


@cache
def _load_package() -> None:
    found = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in HELPERS)
    for name in [*BUILT_IN, *(n for n in found if n not in BUILT_IN)]:
        import_module(f"{__name__}.{name}")
    for entry in sorted(metadata.entry_points(group="tierstack.capabilities"), key=lambda e: e.name):
        entry.load()  # the module defines its class, which registers itself


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
