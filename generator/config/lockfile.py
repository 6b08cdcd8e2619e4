"""tierstack.lock: the commit each git upstream resolved to, so builds are reproducible and work offline.

The lock file lives beside tierstack.yaml. For every blueprint the config reaches through git (its
`blueprint:`, an `extends:` of a blueprint of its own, or of a blueprint from git) it records the
repository as written (a local path relative to the lock's folder), the path, the ref, the commit the
ref resolved to and the sha256 of the file:

    version: 1
    upstreams:
      - url: ../org-blueprints.git
        path: blueprints/org.yaml.j2
        ref: v1.0.0
        commit: 4b0c...
        sha256: 9f2e...

A build with a lock uses the locked commit, from the cache when it is there (no network), even when the
tag has moved since (and says so). A ref in a file that differs from the lock's is an error until the
pin is moved on purpose: `tierstack upstream --accept REF` (shows the effect first) or `tierstack
generate --update` (every upstream, from its ref). `generate` writes the lock; `explain`, `show` and
`validate` read it and never write.

`Pins` is one resolution's view: the lock, what was pinned, and notes for the user. blueprint.load asks
the session active for the config's folder (`session`), or a read-only one.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tierstack.generator.config.gitsource import (
    COMMIT_PATTERN,
    GitFailed,
    GitSource,
    Location,
    Mirror,
    check_path,
    check_ref,
    check_url,
    locate_url,
    unknown_ref_hint,
)
from tierstack.generator.core.errors import UserError
from tierstack.generator.core.fsio import write_atomic
from tierstack.generator.core.yamlio import key_line, parse, read_text

LOCK_NAME = "tierstack.lock"
VERSION = 1
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
UPDATE_HINT = (
    "`tierstack upstream` shows what a newer ref changes and `--accept REF` moves the pin; "
    "`tierstack generate --update` re-resolves every upstream"
)

Key = tuple[str, str]  # (url as the lock writes it, path)


@dataclass(frozen=True)
class LockEntry:
    url: str
    path: str
    ref: str
    commit: str
    sha256: str
    line: int | None = field(default=None, compare=False)

    @property
    def key(self) -> Key:
        return (self.url, self.path)

    def to_data(self) -> dict[str, str]:
        return {"url": self.url, "path": self.path, "ref": self.ref, "commit": self.commit, "sha256": self.sha256}


def read_lock(path: Path) -> dict[Key, LockEntry]:
    """The entries of a lock file (none when there is no file); a malformed one is an error at its line."""
    if not path.exists():
        return {}
    text = read_text(path, "lock file")
    doc = parse(text, path)
    if doc is None:
        return {}
    where = str(path)
    if not isinstance(doc, dict) or doc.get("version") != VERSION or not isinstance(doc.get("upstreams"), list):
        raise UserError(
            f"not a tierstack.lock of version {VERSION} (version: {VERSION}, upstreams: [...])",
            file=where,
            hint="delete it and run `tierstack generate` to write it again",
        )
    entries: dict[Key, LockEntry] = {}
    for index, item in enumerate(doc["upstreams"]):
        line = doc["upstreams"].lc.item(index)[0] + 1 if hasattr(doc["upstreams"], "lc") else None
        if not isinstance(item, dict) or set(item) != {"url", "path", "ref", "commit", "sha256"}:
            raise UserError(
                "each upstream has url, path, ref, commit and sha256", file=where, line=line, field=f"upstreams.{index}"
            )
        values = {k: str(v) for k, v in item.items()}
        try:
            check_url(values["url"])
            check_ref(values["ref"])
            check_path(values["path"])
            if not COMMIT_PATTERN.fullmatch(values["commit"]):
                raise ValueError(f"'{values['commit']}' is not a full commit id")
            if not _SHA256.fullmatch(values["sha256"]):
                raise ValueError(f"'{values['sha256']}' is not a sha256")
        except ValueError as err:
            raise UserError(str(err), file=where, line=line, field=f"upstreams.{index}") from None
        entry = LockEntry(line=line, **values)
        entries[entry.key] = entry
    return entries


def lock_text(entries: list[LockEntry]) -> str:
    lines = [
        "# tierstack.lock: the commit each git upstream of tierstack.yaml resolved to. Written by tierstack;",
        "# commit it with the config. Builds use these commits, even when a tag moves. `tierstack upstream`",
        "# shows what a newer ref changes and --accept moves a pin; `tierstack generate --update` moves all.",
        f"version: {VERSION}",
        "upstreams:" + (" []" if not entries else ""),
    ]
    for entry in sorted(entries, key=lambda e: e.key):
        lines.append(f"  - url: {_scalar(entry.url)}")
        lines += [f"    {k}: {_scalar(v)}" for k, v in entry.to_data().items() if k != "url"]
    return "\n".join(lines) + "\n"


def _scalar(value: str) -> str:
    import json

    plain = re.fullmatch(r"[A-Za-z0-9._/@+-][A-Za-z0-9._/@:+-]*", value) and ": " not in value
    return value if plain else json.dumps(value)


# --- what one resolution pinned --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pinned:
    """A git upstream as resolved: where, which ref, which commit, and the file's text."""

    source: GitSource  # as written in the file that names it
    location: Location
    lock_url: str
    ref: str  # the ref resolved: the source's, or the one `upstream --to/--accept` asked for
    commit: str
    kind: str  # tag, branch or commit
    text: str
    sha256: str
    mirror: Mirror = field(compare=False, repr=False)
    locked: bool = False  # the commit came from tierstack.lock

    @property
    def key(self) -> Key:
        return (self.lock_url, self.source.path)

    @property
    def name(self) -> str:
        """How the chain, provenance and messages name the file: REPOSITORY@REF:PATH."""
        return self.name_of(self.source.path)

    def name_of(self, path: str) -> str:
        """REPOSITORY as tierstack.lock writes it (a local one relative to the config's folder, a URL as
        written), never relative to the working directory: this name lands in generated pages."""
        return pinned_name(self.lock_url, self.ref, path)

    def entry(self) -> LockEntry:
        return LockEntry(self.lock_url, self.source.path, self.ref, self.commit, self.sha256)

    def read(self, path: str) -> str:
        """Another file of the same commit (a blueprint from git extends ./base.yaml.j2)."""
        return decode(self.mirror.blob(self.commit, path).data, self.name_of(path))


def pinned_name(url: str, ref: str, path: str) -> str:
    return f"{url}@{ref}:{path}"


def decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError("the blueprint is not UTF-8 text", file=name) from None


class Pins:
    """One resolution's upstreams: the lock it reads, what it pinned, notes for the user.

    lock_dir: the folder of tierstack.yaml (None: no lock, e.g. a blueprint loaded on its own).
    update:   resolve every ref anew (fetching), as `generate --update` does.
    refs:     (lock url, path) -> a ref to use instead of the one written (`upstream --to`, `--accept`).
    """

    def __init__(self, lock_dir: Path | None, *, update: bool = False, refs: Mapping[Key, str] | None = None) -> None:
        self.lock_dir = Path(os.path.abspath(lock_dir)) if lock_dir is not None else None
        self.lock_path = self.lock_dir / LOCK_NAME if self.lock_dir is not None else None
        self.locked = read_lock(self.lock_path) if self.lock_path is not None else {}
        self.update = update
        self.refs = dict(refs or {})
        self.pinned: dict[Key, Pinned] = {}
        self.notes: list[str] = []
        self._fetched: dict[Path, str | None] = {}  # mirror -> None when fetched, else why not

    # -- pinning -------------------------------------------------------------------------------------

    def lock_url(self, location: Location) -> str:
        """The repository as the lock writes it: a local one relative to the lock's folder, so the lock is the
        same on every machine; anything else as written."""
        if location.local is None or self.lock_dir is None or not location.written.startswith("."):
            return location.written
        rel = Path(os.path.relpath(location.local, self.lock_dir)).as_posix()
        return rel if rel.startswith("../") or rel == ".." else f"./{rel}"

    def pin(self, source: GitSource, base: Path | None, where: dict[str, Any]) -> Pinned:
        """Resolve `source` (written in a file in folder `base`; None for a blueprint from git) to a commit and
        read its file. `where` (file, line, field; lines: key -> line) is the place that wrote it, for errors."""
        try:
            location = locate_url(source.git, base)
        except ValueError as err:
            raise UserError(
                str(err), hint="see 'Blueprints from git' in docs/blueprints.md", **_at(where, "git")
            ) from None
        key = (self.lock_url(location), source.path)
        if key in self.pinned:
            done = self.pinned[key]
            if done.source.ref != source.ref and key not in self.refs:
                raise UserError(
                    f"{location.shown} {source.path} is pinned at {done.source.ref} elsewhere (in this blueprint "
                    f"chain, or by another member of this fleet), and at {source.ref} here",
                    hint=f"pin one upstream file at one ref: {LOCK_NAME} records one commit for each",
                    **_at(where, "ref"),
                )
            return done
        mirror = Mirror(location)
        ref = self.refs.get(key, source.ref)
        entry = None if self.update or key in self.refs else self.locked.get(key)
        if entry is not None:
            commit, kind = self._locked_commit(entry, source, location, mirror, where)
        else:
            commit, kind = self._resolve(ref, location, mirror, where)
            before = self.locked.get(key)
            if before is not None and before.commit != commit:
                self.notes.append(
                    f"{location.shown} {source.path}: {before.ref} ({before.commit[:12]}) -> {ref} ({commit[:12]})"
                )
        try:
            blob = mirror.blob(commit, source.path)
        except GitFailed as err:
            raise UserError(
                f"{source.path} at {ref} of {location.shown}: {err.reason}",
                hint="the path is relative to the repository's top; `git ls-tree -r --name-only "
                f"{ref}` lists the files",
                **_at(where, "path"),
            ) from None
        if entry is not None and entry.sha256 != blob.sha256:
            raise UserError(
                f"{source.path} at commit {commit[:12]} of {location.shown} is not the file tierstack.lock recorded "
                "(its sha256 differs)",
                file=str(self.lock_path),
                line=entry.line,
                hint="the cache may be damaged: delete it (" + str(mirror.path) + ") and build again",
            )
        name = pinned_name(key[0], ref, source.path)
        pinned = Pinned(
            source, location, key[0], ref, commit, kind, decode(blob.data, name), blob.sha256, mirror, entry is not None
        )
        mirror.keep(commit)
        self.pinned[key] = pinned
        return pinned

    def _fetch(self, mirror: Mirror) -> str | None:
        """Fetch once per resolution; None when it worked, else why not."""
        if mirror.path not in self._fetched:
            try:
                mirror.fetch()
                self._fetched[mirror.path] = None
            except GitFailed as err:
                self._fetched[mirror.path] = err.reason
        return self._fetched[mirror.path]

    def _resolve(self, ref: str, location: Location, mirror: Mirror, where: dict[str, Any]) -> tuple[str, str]:
        failed = self._fetch(mirror)
        found = mirror.resolve(ref)
        if failed is not None:
            if found is None:
                raise UserError(
                    f"cannot fetch {location.shown}: {failed}"
                    + (" (and the cache has no copy of it)" if not mirror.exists else f" (the cache has no {ref})"),
                    hint="check the URL, your network and your access; once fetched, builds work offline from the "
                    f"cache ({mirror.path.parent})",
                    **_at(where, "git"),
                )
            self.notes.append(
                f"could not reach {location.shown} ({failed}); using {ref} as fetched {_when(mirror.fetched_at)}"
            )
        if found is None:
            raise UserError(
                f"'{ref}' is not a tag, branch or commit of {location.shown}",
                hint=unknown_ref_hint(ref, mirror),
                **_at(where, "ref"),
            )
        return found

    def _locked_commit(
        self, entry: LockEntry, source: GitSource, location: Location, mirror: Mirror, where: dict[str, Any]
    ) -> tuple[str, str]:
        if entry.ref != source.ref:
            raise UserError(
                f"tierstack.lock pins {entry.url} {entry.path} at {entry.ref} (commit {entry.commit[:12]}), "
                f"and this asks for {source.ref}",
                hint=f"to move to {source.ref}: `tierstack upstream --accept {source.ref}` (shows what changes) or "
                "`tierstack generate --update`; to stay, write ref: " + entry.ref,
                **_at(where, "ref"),
            )
        if not mirror.has_commit(entry.commit):
            failed = self._fetch(mirror)
            if not mirror.has_commit(entry.commit):
                reason = f"cannot fetch {location.shown}: {failed}" if failed else "the repository no longer has it"
                raise UserError(
                    f"the locked commit {entry.commit[:12]} of {entry.url} ({entry.ref}) is not in the cache, and "
                    f"{reason}",
                    file=str(self.lock_path),
                    line=entry.line,
                    hint="check the URL and your network; " + UPDATE_HINT,
                )
        now = mirror.resolve(entry.ref)
        kind = now[1] if now else "commit"
        if now is not None and now[0] != entry.commit:
            seen = (
                "now points at"
                if mirror.path in self._fetched
                else f"pointed at, when last fetched ({_when(mirror.fetched_at)}),"
            )
            self.notes.append(
                f"{entry.url} {entry.path}: {entry.ref} {seen} {now[0][:12]}; tierstack.lock keeps "
                f"{entry.commit[:12]}. {UPDATE_HINT}"
            )
        return entry.commit, kind

    # -- the lock ------------------------------------------------------------------------------------

    def entries(self, keep: bool = False) -> list[LockEntry]:
        """What this resolution pinned; with `keep`, also the lock's entries it did not reach (a fleet
        generating some of its members: the others' pins stay)."""
        current = {p.key: p.entry() for p in self.pinned.values()}
        if keep:
            current = {**self.locked, **current}
        return sorted(current.values(), key=lambda e: e.key)

    def lock_changed(self, keep: bool = False) -> bool:
        if self.lock_path is None:
            return False
        current = {e.key: e for e in self.entries(keep)}
        return current != self.locked or (not self.lock_path.exists() and bool(current))

    def write_lock(self, keep: bool = False) -> bool:
        """Write tierstack.lock when it differs from what this resolution pinned; True when written.

        `keep`: the resolution did not reach every upstream of the config (see entries)."""
        if self.lock_path is None or not self.lock_changed(keep):
            return False
        if not self.pinned and not self.lock_path.exists():
            return False
        if not keep and not self.update:
            self.check_stale()
        entries = self.entries(keep)
        write_atomic(self.lock_path, lock_text(entries))
        self.locked = {e.key: e for e in entries}
        return True

    def check_stale(self) -> None:
        """A lock entry this (complete) resolution did not use is an error, not a line to drop in silence: the
        config names that upstream file at another URL now, or no longer names it. Moving on is on purpose."""
        pinned = {p.key for p in self.pinned.values()}
        for entry in sorted(self.locked.values(), key=lambda e: e.line or 0):
            if entry.key in pinned:
                continue
            now = sorted(url for url, path in pinned if path == entry.path)
            used = (
                f"and the config names {entry.path} in {' and '.join(now)} now"
                if now
                else "which the config no longer uses"
            )
            raise UserError(
                f"tierstack.lock pins {entry.path} of {entry.url} at {entry.ref} (commit {entry.commit[:12]}), {used}",
                file=str(self.lock_path),
                line=entry.line,
                hint="`tierstack generate --update` resolves every upstream from the config and rewrites "
                "tierstack.lock (review what moves); or write the URL the lock has back into the config",
            )


def _at(where: dict[str, Any], name: str) -> dict[str, Any]:
    """`where` narrowed to one key of the git source (`ref`, `path`): its field, and its line when known."""
    given = where.get("field")
    lines = where.get("lines") or {}
    return {
        "file": where.get("file"),
        "line": lines.get(name) or where.get("line"),
        "field": f"{given}.{name}" if given else name,
    }


def _place(where: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in where.items() if k in ("file", "line", "field")}


def _when(stamp: int | None) -> str:
    if stamp is None:
        return "earlier"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp))


# --- the session a resolution uses --------------------------------------------------------------------

_ACTIVE: ContextVar[Pins | None] = ContextVar("tierstack_pins", default=None)


@contextlib.contextmanager
def session(pins: Pins) -> Iterator[Pins]:
    """Resolutions of configs in `pins.lock_dir` use `pins` (generate --update, upstream --to) in this block."""
    token = _ACTIVE.set(pins)
    try:
        yield pins
    finally:
        _ACTIVE.reset(token)


def pins_for(config: Path | None) -> Pins:
    """The active session for the config's folder, or a new read-only one (the lock, if any, is read)."""
    active = _ACTIVE.get()
    folder = Path(os.path.abspath(config.parent)) if config is not None else None
    if active is not None and active.lock_dir == folder:
        return active
    return Pins(folder)


def line_in(doc: Any, *path: str) -> int | None:
    node = doc
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    return key_line(node, path[-1]) if isinstance(node, dict) else None
