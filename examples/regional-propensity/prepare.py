"""Build the platform team's git repository this example's forks extend: org-blueprints.git, beside this file.

The repository's content is checked in under org-blueprints/, one folder per release (v1.0.0/, v1.1.0/,
each the whole tree at that tag); RELEASES below gives each its commit date and message. The repository
is built with `git fast-import` from a fixed stream: same files, same author and dates, hence the same
commit ids on every machine, so the tierstack.lock files checked in under us/ and uk/ hold on all of them.
The configs name it by a path relative to their own folder (`git: ../org-blueprints.git`), which
tierstack resolves against the folder of the file that writes it.

Run by `make demo` and `make refresh` (every examples/*/prepare.py) and by the tests (tests/synth_support.py,
example_configs). Idempotent: a repository that already has these commits is left as it is.

    python examples/regional-propensity/prepare.py [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "org-blueprints"
REPOSITORY = HERE / "org-blueprints.git"
AUTHOR = "ACME Platform Team <ml-platform@example.com>"
# tag, commit (and tag) time as seconds since the epoch, message
RELEASES = [
    ("v1.0.0", 1767258000, "Organisation blueprint 1.0.0: labels, budget thresholds, CMEK in production"),
    ("v1.1.0", 1769936400, "Organisation blueprint 1.1.0: 90 days of model history, BigQuery audit logs"),
]


def stream() -> bytes:
    """The fast-import stream: one commit per release on main, each tagged (annotated)."""
    out = bytearray()

    def data(payload: bytes) -> None:
        out.extend(b"data %d\n" % len(payload) + payload + b"\n")

    for mark, (tag, when, message) in enumerate(RELEASES, start=1):
        stamp = f"{AUTHOR} {when} +0000".encode()
        out.extend(b"commit refs/heads/main\nmark :%d\n" % mark)
        out.extend(b"author " + stamp + b"\ncommitter " + stamp + b"\n")
        data(message.encode() + b"\n")
        if mark > 1:
            out.extend(b"from :%d\n" % (mark - 1))
        out.extend(b"deleteall\n")
        tree = SOURCES / tag
        for path in sorted(p for p in tree.rglob("*") if p.is_file()):
            out.extend(b"M 100644 inline " + path.relative_to(tree).as_posix().encode() + b"\n")
            data(path.read_bytes())
        out.extend(f"tag {tag}\nfrom :{mark}\ntagger {AUTHOR} {when} +0000\n".encode())
        data(f"{tag}\n".encode())
    return bytes(out)


def git(*args: str, cwd: Path | None = None, input: bytes | None = None) -> bytes:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["GIT_CONFIG_GLOBAL"] = os.devnull  # the user's settings (signing, templates) cannot change the commits
    result = subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def refs(repository: Path) -> bytes:
    return git("--git-dir", str(repository), "for-each-ref", "--format=%(refname) %(objectname)")


def build(target: Path) -> bool:
    """Build the repository at target; False when the one there already has these commits and tags."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=".org-blueprints.", dir=target.parent))
    try:
        git("init", "--quiet", "--bare", "--template=", "--object-format=sha1", str(fresh))
        git("--git-dir", str(fresh), "fast-import", "--quiet", "--date-format=raw", input=stream())
        git("--git-dir", str(fresh), "symbolic-ref", "HEAD", "refs/heads/main")
        if (target / "HEAD").is_file() and refs(target) == refs(fresh):
            return False
        if target.exists():
            shutil.rmtree(target)
        fresh.rename(target)
        return True
    finally:
        shutil.rmtree(fresh, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPOSITORY, help="where to build it [default: %(default)s]")
    target = parser.parse_args().out
    changed = build(target)
    print(f"{'built' if changed else 'up to date:'} {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
