"""Blueprints from git: a repository, a ref and a path, fetched into a user cache and read by commit.

`blueprint:` in tierstack.yaml and `extends:` in a blueprint may name a blueprint in a git repository:

    extends: {git: https://github.com/acme/platform-blueprints.git, ref: v1.4.0, path: blueprints/org.yaml.j2}

The repository is fetched into a bare mirror in the user's cache (`$TIERSTACK_CACHE`, else
`$XDG_CACHE_HOME/tierstack`, else `~/.cache/tierstack`), under `git/`; the ref is resolved to a
commit there and the file is read from the commit's tree (never from a checkout). Once fetched, a
build needs no network: generator/config/lockfile.py records the commit of each upstream in tierstack.lock.

Configs and blueprints come from other teams and are rendered in CI next to credentials, so git runs
on a short leash:

- a fixed argv, never a shell; `--` (or `--end-of-options`) before refs and paths;
- transports: https, ssh and local files only. `ext::` and every other `<helper>::` form, plain http
  and git:// are refused before git runs, and git itself is told the same (`protocol.allow=never`,
  each allowed protocol named; GIT_ALLOW_PROTOCOL too); `protocol.file.allow=always` only for a local
  repository; no credentials in a URL (they would land in tierstack.lock and in logs);
- hooks off (`core.hooksPath=/dev/null`, an empty template), no submodules, no fsmonitor, no automatic
  gc (a locked commit stays in the cache), incoming objects checked (`transfer.fsckObjects`);
- no terminal prompt (GIT_TERMINAL_PROMPT=0); the user's own credential helpers still work;
- a time limit on every git run and a size limit on a repository, checked while it is fetched;
- a ref matches REF_PATTERN (no leading '-' or '.', no '..', no '@{'); a path is relative, inside the
  repository (no '..', not absolute), and a regular file in the commit's tree: a symbolic link or a
  submodule is refused, and a path through a link is not found (trees are read, not a checkout);
- a file over the blueprint size limit (yamlio.MAX_FILE_BYTES) is not read.

What is read renders in the same Jinja2 sandbox as a local blueprint (generator/config/blueprint/sandbox.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tierstack.generator.core import fsio
from tierstack.generator.core.errors import UserError, did_you_mean
from tierstack.generator.core.yamlio import MAX_FILE_BYTES, size_text

CACHE_ENV = "TIERSTACK_CACHE"
GIT_TIMEOUT = 30.0  # seconds for a git command that reads the cache
FETCH_TIMEOUT = 180.0  # seconds for a fetch
MAX_REPOSITORY_BYTES = 512 * 1024 * 1024  # a mirror larger than this is removed, and the fetch refused
REF_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/+-]{0,199}$")
COMMIT_PATTERN = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
SCP_PATTERN = re.compile(r"^(?:[^@/:\s]+@)?([^@/:\s]+):(?!//)")  # [user@]host:path, no '/' before the ':'
ALLOWED = "https://, ssh:// (or user@host:path), file:///absolute/path, or a path starting with ./ or ../"
Transport = Literal["https", "ssh", "file"]


# --- what a config or a blueprint writes ------------------------------------------------------------


def check_url(url: str) -> str:
    """The URL's syntax and transport (see the module docstring); raises ValueError with the reason."""
    _transport(url)
    return url


def check_ref(ref: str) -> str:
    if ref.startswith("-"):
        raise ValueError(f"'{ref}' cannot be a ref: a ref does not start with '-'")
    if not REF_PATTERN.fullmatch(ref) or ".." in ref or "@{" in ref or "//" in ref or ref.endswith((".lock", "/", ".")):
        raise ValueError(
            f"'{ref}' is not a ref tierstack accepts: a tag, a branch or a commit id, of letters, digits "
            "and . _ / + - (no '..', not starting with '.' or '-')"
        )
    return ref


def check_path(path: str) -> str:
    """A path inside the repository: relative, no '..', no empty or '.' parts, no backslashes."""
    if not path or path.startswith("/") or "\\" in path or re.search(r"[\x00-\x1f\x7f]", path):
        raise ValueError(f"'{path}' is not a path inside the repository: give it relative to the repository's top")
    parts = path.split("/")
    if ".." in parts:
        raise ValueError(f"'{path}' leaves the repository: '..' is not allowed in a blueprint's path")
    if any(part in ("", ".") for part in parts):
        raise ValueError(f"'{path}' is not a plain path: no empty or '.' parts")
    if path.startswith("-"):
        raise ValueError(f"'{path}' cannot be a path: it starts with '-'")
    return path


class GitSource(BaseModel):
    """A blueprint in a git repository, pinned to a ref: `{git: URL, ref: v1.4.0, path: blueprints/org.yaml.j2}`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    git: str = Field(description="the repository: " + ALLOWED + " (relative to the file that names it)")
    ref: str = Field(description="a tag (v1.4.0), a branch or a commit id; tierstack.lock records its commit")
    path: str = Field(description="the blueprint's path inside the repository")

    @field_validator("git")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value)

    @field_validator("ref")
    @classmethod
    def _ref(cls, value: str) -> str:
        return check_ref(value)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_path(value)


def _transport(url: str) -> Transport:
    if not url:
        raise ValueError("the repository URL is empty")
    head = url.split("/", 1)[0]
    if "::" in head:
        helper = head.split("::", 1)[0]
        raise ValueError(
            f"'{helper}::' hands the URL to a git remote helper{' that runs a command' if helper == 'ext' else ''}; "
            f"that transport is not allowed. Repositories are {ALLOWED}"
        )
    if url != url.strip() or re.search(r"[\x00-\x20\x7f]", url):
        raise ValueError("a repository URL has no spaces or control characters")
    if url.startswith("-"):
        raise ValueError(f"'{url}' cannot be a repository: it starts with '-'")
    scheme = _SCHEME.match(url)
    if scheme:
        name = scheme.group(1).lower()
        rest = url[scheme.end() :]
        host = rest.split("/", 1)[0]
        if name in ("https", "ssh", "git+ssh", "ssh+git") and ":" in host.split("@")[0] and "@" in host:
            raise ValueError(
                "the URL holds a password, which would be written to tierstack.lock and to logs: "
                "use a credential helper or an ssh key"
            )
        if name == "https":
            return "https"
        if name in ("ssh", "git+ssh", "ssh+git"):
            if host.split("@")[-1].startswith("-"):
                raise ValueError(f"'{url}': a host name does not start with '-'")
            return "ssh"
        if name == "file":
            if not rest.startswith("/"):
                raise ValueError(f"'{url}': a file URL names a local path: file:///absolute/path (no host)")
            return "file"
        if name == "http":
            raise ValueError(f"'{url}': plain http can be changed on its way; use https://")
        if name == "git":
            raise ValueError(f"'{url}': git:// is neither authenticated nor encrypted; use https:// or ssh://")
        raise ValueError(f"'{name}://' is not an allowed transport. Repositories are {ALLOWED}")
    if url.startswith(("/", "./", "../")) or url in (".", ".."):
        return "file"
    scp = SCP_PATTERN.match(url)
    if scp:
        if scp.group(1).startswith("-"):
            raise ValueError(f"'{url}': a host name does not start with '-'")
        return "ssh"
    raise ValueError(
        f"'{url}' is neither a URL nor a path tierstack can tell apart from one: write a local repository "
        f"as ./{url} (relative to the file that names it). Repositories are {ALLOWED}"
    )


@dataclass(frozen=True)
class Location:
    """Where a repository is: the URL as written, what git fetches, and how messages show it."""

    written: str
    fetch: str  # for a local repository: its absolute path
    transport: Transport
    local: Path | None  # a local repository's absolute path

    @property
    def shown(self) -> str:
        if self.local is None:
            return self.written
        from tierstack.generator.config.blueprint import display_path

        return display_path(self.local)

    @property
    def canonical(self) -> str:
        """The same repository written two ways (./a from one folder, ../x/a from another) is one cache entry."""
        return f"file://{self.local}" if self.local is not None else self.written


def locate_url(url: str, base: Path | None) -> Location:
    """A URL as written in a file whose folder is `base` (None: a blueprint from git, where paths mean nothing).

    Raises ValueError with the reason, like the validators.
    """
    transport = _transport(url)
    if transport != "file":
        return Location(url, url, transport, None)
    if url.startswith("file://"):
        path = Path(url[len("file://") :])
    elif url.startswith("/"):
        path = Path(url)
    else:
        if base is None:
            raise ValueError(
                f"'{url}' is a path relative to the file that names it, and a blueprint from git has no folder "
                "on this machine: name other repositories by URL"
            )
        path = base / url
    path = Path(os.path.abspath(path))
    return Location(url, str(path), "file", path)


# --- the cache ----------------------------------------------------------------------------------------


def cache_root() -> Path:
    given = os.environ.get(CACHE_ENV)
    if given:
        return Path(given).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "tierstack"


def cache_unusable(exc: OSError) -> UserError:
    """The cache cannot be made or written (HOME a file or read-only, a full disk): where, why, what to do."""
    from tierstack.generator.core.errors import environment_error

    found = environment_error(exc)
    why = found.message if found is not None else (exc.strerror or str(exc))
    return UserError(
        f"tierstack's cache of git blueprints cannot be used: {why}",
        file=str(cache_root()),
        hint=f"set {CACHE_ENV} to a directory you can write, or fix the one named (it is under HOME unless "
        f"{CACHE_ENV} or XDG_CACHE_HOME moves it)",
    )


def mirror_path(location: Location) -> Path:
    digest = hashlib.sha256(location.canonical.encode()).hexdigest()[:20]
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", location.canonical.rstrip("/").rsplit("/", 1)[-1])[:40] or "repo"
    return cache_root() / "git" / f"{stem.removesuffix('.git')}-{digest}.git"


class GitFailed(Exception):
    """git ran and failed, or was stopped at a limit: `reason` is what to tell the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_HARDENING = (
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "protocol.allow=never",
    "-c",
    "protocol.https.allow=always",
    "-c",
    "protocol.ssh.allow=always",
    "-c",
    "submodule.recurse=false",
    "-c",
    "fetch.recurseSubmodules=false",
    "-c",
    "gc.auto=0",
    "-c",
    "maintenance.auto=false",
    "-c",
    "transfer.fsckObjects=true",
    "-c",
    "init.defaultBranch=main",
    "-c",
    "advice.detachedHead=false",
)
_REPOSITORY_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_EXEC_PATH",
    "GIT_TEMPLATE_DIR",
)


def git_argv(*args: str, git_dir: Path | None = None, file_protocol: bool = False) -> list[str]:
    """git's argv: the hardening above, file:// only when asked for, then `args` (never a shell)."""
    argv = ["git", *_HARDENING]
    if file_protocol:
        argv += ["-c", "protocol.file.allow=always"]
    if git_dir is not None:
        argv.append(f"--git-dir={git_dir}")
    return [*argv, *args]


def git_env(file_protocol: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _REPOSITORY_VARIABLES and not k.startswith("GIT_CONFIG_KEY")}
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_PROTOCOL_FROM_USER": "0",
            "GIT_ALLOW_PROTOCOL": "https:ssh" + (":file" if file_protocol else ""),
            "GIT_LITERAL_PATHSPECS": "1",  # a path is a path, never a pattern or :(magic)
            "LC_ALL": "C",
        }
    )
    return env


def run_git(
    *args: str,
    git_dir: Path | None = None,
    file_protocol: bool = False,
    timeout: float = GIT_TIMEOUT,
    watch: Path | None = None,
    max_bytes: int = MAX_REPOSITORY_BYTES,
) -> subprocess.CompletedProcess[bytes]:
    """Run git with a fixed argv; stop it (its whole process group) past `timeout`, or when `watch` grows
    over `max_bytes`. Raises GitFailed when stopped, or when git cannot be run at all; a failure of git
    itself is the returncode, for the caller to word."""
    argv = git_argv(*args, git_dir=git_dir, file_protocol=file_protocol)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=git_env(file_protocol),
            start_new_session=True,
        )
    except FileNotFoundError:
        raise GitFailed("git is not installed (blueprints from git need it)") from None
    started, checked = time.monotonic(), 0.0
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                now = time.monotonic()
                if now - started > timeout:
                    _stop(proc)
                    raise GitFailed(f"git took more than {timeout:g} seconds and was stopped") from None
                if watch is not None and now - checked > 0.5:
                    checked = now
                    if _size(watch) > max_bytes:
                        _stop(proc)
                        raise GitFailed(
                            f"the repository is larger than {max_bytes // (1024 * 1024)} MiB; fetching stopped"
                        ) from None
    except BaseException:
        _stop(proc)
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            killpg = getattr(os, "killpg", None)  # POSIX: git and what it started (ssh, upload-pack)
            if killpg is not None:
                killpg(proc.pid, signal.SIGKILL)
            else:  # pragma: no cover
                proc.kill()
        with contextlib.suppress(Exception):
            proc.communicate(timeout=5)


def _size(root: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _last_line(data: bytes) -> str:
    lines = [line.strip() for line in data.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1].removeprefix("fatal: ").removeprefix("error: ") if lines else "git failed"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One fetch into a mirror at a time (other processes wait)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover  (not POSIX: no lock)
        yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_name(path.name + ".lock"), "a+b")  # noqa: SIM115  (closed by the with below)
    except OSError as exc:
        raise cache_unusable(exc) from None
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# --- a mirror -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tag:
    name: str
    commit: str
    date: int  # the tag's (or its commit's) creation time


@dataclass(frozen=True)
class Blob:
    path: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class Mirror:
    """A bare mirror of one repository in the cache: its branches and tags, and the commits tierstack pinned."""

    def __init__(self, location: Location) -> None:
        self.location = location
        self.path = mirror_path(location)

    @property
    def exists(self) -> bool:
        return (self.path / "HEAD").is_file()

    def _git(self, *args: str, timeout: float = GIT_TIMEOUT) -> subprocess.CompletedProcess[bytes]:
        return run_git(*args, git_dir=self.path, timeout=timeout)

    def fetch(self) -> None:
        """Bring branches and tags up to date from the repository; GitFailed with the reason when it cannot."""
        local = self.location.local
        if local is not None and not local.exists():
            raise GitFailed(f"no repository at {self.location.shown}")
        with _locked(self.path):
            if not self.exists:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                made = run_git("init", "--quiet", "--bare", "--template=", "--", str(self.path))
                if made.returncode != 0:
                    raise GitFailed(f"cannot create the cache at {self.path}: {_last_line(made.stderr)}")
            result = run_git(
                "fetch",
                "--quiet",
                "--prune",
                "--no-tags",
                "--no-recurse-submodules",
                "--no-write-fetch-head",
                "--",
                self.location.fetch,
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
                git_dir=self.path,
                file_protocol=self.location.transport == "file",
                timeout=FETCH_TIMEOUT,
                watch=self.path,
            )
            if result.returncode != 0:
                raise GitFailed(_last_line(result.stderr))
            if _size(self.path) > MAX_REPOSITORY_BYTES:
                raise GitFailed(f"the repository is larger than {MAX_REPOSITORY_BYTES // (1024 * 1024)} MiB")
            with contextlib.suppress(OSError):
                (self.path / "tierstack-fetched").write_text(str(int(time.time())), encoding="utf-8")

    @property
    def fetched_at(self) -> int | None:
        try:
            return int(fsio.read_bytes_bounded(self.path / "tierstack-fetched", "fetch record", 64))
        except (UserError, ValueError):
            return None

    def has_commit(self, commit: str) -> bool:
        if not self.exists or not COMMIT_PATTERN.fullmatch(commit):
            return False
        return self._git("cat-file", "-e", f"{commit}^{{commit}}").returncode == 0

    def resolve(self, ref: str) -> tuple[str, str] | None:
        """(commit, kind) for a tag, a branch or a full commit id; None when the mirror has no such ref."""
        if not self.exists:
            return None
        for kind, full in (("tag", f"refs/tags/{ref}"), ("branch", f"refs/heads/{ref}")):
            found = self._git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{full}^{{commit}}")
            if found.returncode == 0:
                return found.stdout.decode().strip(), kind
        if COMMIT_PATTERN.fullmatch(ref) and self.has_commit(ref):
            return ref, "commit"
        return None

    def tags(self) -> list[Tag]:
        if not self.exists:
            return []
        listed = self._git(
            "for-each-ref",
            "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)%00%(creatordate:unix)",
            "refs/tags",
        )
        out = []
        for line in listed.stdout.decode(errors="replace").splitlines():
            name, obj, peeled, date = [*line.split("\0"), "", "", ""][:4]
            out.append(Tag(name, peeled or obj, int(date) if date.isdigit() else 0))
        return out

    def branches(self) -> list[str]:
        if not self.exists:
            return []
        listed = self._git("for-each-ref", "--format=%(refname:strip=2)", "refs/heads")
        return listed.stdout.decode(errors="replace").split()

    def keep(self, commit: str) -> None:
        """A ref on a commit tierstack pinned, so a tag that moves upstream never takes it out of the cache."""
        if COMMIT_PATTERN.fullmatch(commit):
            self._git("update-ref", f"refs/tierstack/pinned/{commit}", commit)

    def blob(self, commit: str, path: str) -> Blob:
        """The file at `path` in the commit's tree; GitFailed naming what is wrong (missing, a link, too large)."""
        check_path(path)
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            entry = self._git("ls-tree", "-z", "--full-tree", commit, "--", prefix)
            if entry.returncode != 0:
                raise GitFailed(_last_line(entry.stderr))
            found = [e for e in entry.stdout.decode(errors="replace").split("\0") if e]
            if not found:
                what = "no such file" if depth == len(parts) else f"no folder {prefix}/"
                raise GitFailed(what)
            mode, kind, sha = found[0].split("\t", 1)[0].split(" ")
            if mode == "120000":
                raise GitFailed(
                    f"{prefix} is a symbolic link; a blueprint is read from the repository's tree, and links are "
                    "not followed (they could lead out of it)"
                )
            if mode == "160000":
                raise GitFailed(f"{prefix} is a submodule; submodules are not fetched")
            if depth < len(parts) and kind != "tree":
                raise GitFailed(f"{prefix} is a file, not a folder")
        if kind != "blob" or mode not in ("100644", "100755"):
            raise GitFailed("not a regular file" if kind != "tree" else "a folder, not a file")
        size = self._git("cat-file", "-s", sha)
        if size.returncode != 0 or int(size.stdout.decode().strip() or 0) > MAX_FILE_BYTES:
            raise GitFailed(f"larger than {size_text(MAX_FILE_BYTES)} (blueprints are at most that)")
        data = self._git("cat-file", "blob", sha)
        if data.returncode != 0:
            raise GitFailed(_last_line(data.stderr))
        return Blob(path, data.stdout)

    def files(self, commit: str, suffixes: tuple[str, ...] = (".yaml.j2", ".yaml", ".yml")) -> list[str]:
        listed = self._git("ls-tree", "-r", "-z", "--name-only", "--full-tree", commit)
        names = [n for n in listed.stdout.decode(errors="replace").split("\0") if n]
        return [n for n in names if n.endswith(suffixes)]


# --- versions ---------------------------------------------------------------------------------------------

_VERSION = re.compile(r"^[vV]?(\d+(?:\.\d+)*)(?:[-.]?(.+))?$")


def version_key(name: str) -> tuple[int, tuple[int, ...], int]:
    """Orders tags by version: v1.10.0 after v1.9.0; a pre-release (v2.0.0-rc1) before its release."""
    match = _VERSION.fullmatch(name)
    if not match:
        return (0, (), 0)
    numbers = tuple(int(n) for n in match.group(1).split("."))
    return (1, numbers, 0 if match.group(2) else 1)


def newest_tag(tags: list[Tag]) -> Tag | None:
    """The highest version among the tags (pre-releases only when there is nothing else); else the latest."""
    versions = [t for t in tags if version_key(t.name)[0]]
    releases = [t for t in versions if version_key(t.name)[2]]
    pool = releases or versions
    if pool:
        return max(pool, key=lambda t: (version_key(t.name), t.date))
    return max(tags, key=lambda t: (t.date, t.name)) if tags else None


def unknown_ref_hint(ref: str, mirror: Mirror) -> str:
    tags = [t.name for t in sorted(mirror.tags(), key=lambda t: version_key(t.name), reverse=True)]
    names = tags + mirror.branches()
    close = did_you_mean(ref, names)
    listing = ("tags: " + ", ".join(tags[:8]) + (", ..." if len(tags) > 8 else "")) if tags else "no tags"
    return f"{close + ' ' if close else ''}{listing}; branches: {', '.join(mirror.branches()[:8]) or 'none'}"


def url_error(err: ValueError, **where: Any) -> UserError:
    """A UserError for a URL, ref or path refused by the checks above, at the place that wrote it."""
    return UserError(str(err), hint="see 'Blueprints from git' in docs/blueprints.md", **where)
