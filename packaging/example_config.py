"""Write packaging/appliance.example.toml: every configuration key, commented, from the schema.

    python packaging/example_config.py          # rewrite the file
    python packaging/example_config.py --check  # exit 1 if the file is out of date

The keys, defaults and help come from appliance/config/schema.py (KEYS), the
same table docs/configuration.md documents; a node's install sets the few
values in NODE, every other key is shown commented out at its default.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from appliance.config import load_config, render_toml
from appliance.config.schema import KEYS

EXAMPLE = Path(__file__).resolve().parent / "appliance.example.toml"

# What a node installed with packaging/appliance.service changes from the defaults.
NODE = {
    ("server", "data_dir"): "/var/lib/appliance",
    ("receiver", "listen"): "0.0.0.0:8443",
}

HEADER = """\
# appliance configuration for a node: every key, with its meaning and default.
# Generated from appliance/config/schema.py by packaging/example_config.py.
#
# Install as /etc/appliance/appliance.toml (packaging/appliance.service reads it).
# A commented-out key keeps its default; remove the '#' to change it. Environment
# variables APPLIANCE_<SECTION>_<KEY> override this file. Sizes are in bytes,
# durations in seconds. `appliance config --config FILE` prints the result.
"""


def _values(overrides) -> dict[tuple[str, str], str]:
    """Each key's value as TOML text, as `appliance config` renders it."""
    text = render_toml(load_config(env={}, overrides=overrides))
    values, section = {}, None
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif line:
            name, _, value = line.partition(" = ")
            values[(section, name)] = value.split("  # ")[0]
    return values


def render() -> str:
    """The example file's text."""
    defaults = _values({})
    node = _values(NODE)
    out = HEADER.splitlines()
    section = None
    for key in KEYS:
        if key.section != section:
            section = key.section
            out += ["", f"[{section}]", ""]
        meaning = key.help + (f" One of: {', '.join(key.choices)}." if key.choices else "")
        out += [f"# {line}" for line in textwrap.wrap(meaning, 86)]
        out.append(f"# (env {key.env_var})")
        ident = (key.section, key.name)
        if ident in NODE:
            out.append(f"{key.name} = {node[ident]}  # default: {defaults[ident]}")
        else:
            out.append(f"#{key.name} = {defaults[ident]}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only check that the file is up to date")
    args = parser.parse_args()
    text = render()
    if args.check:
        if EXAMPLE.read_text() != text:
            print(f"{EXAMPLE} is out of date: run python packaging/example_config.py")
            return 1
        return 0
    EXAMPLE.write_text(text)
    print(f"wrote {EXAMPLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
