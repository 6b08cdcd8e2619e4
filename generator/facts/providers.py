"""The Google providers every stack pins: one definition, imported everywhere else.

The pinned cdktn-provider-google and cdktn-provider-google-beta (pyproject.toml) were
generated from this provider version; the stacks, cdktf.json, the offline stand-in
(tests/standin) and the tests all read the version from here.
"""

from __future__ import annotations

GOOGLE_PROVIDER_VERSION = "8.7.0"
PROVIDER_NAMES = ("google", "google-beta")
SOURCES = {name: f"hashicorp/{name}" for name in PROVIDER_NAMES}
# cdktf.json's terraformProviders: source@version
PINNED = [f"{SOURCES[name]}@{GOOGLE_PROVIDER_VERSION}" for name in PROVIDER_NAMES]
