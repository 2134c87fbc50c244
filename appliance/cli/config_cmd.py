"""`appliance config`: print the effective configuration."""

from __future__ import annotations

from appliance.config import render_toml


def add_parser(sub, common) -> None:
    p = sub.add_parser("config", parents=[common],
                       help="print the effective configuration as TOML",
                       description="Print the effective configuration (embedded defaults, "
                                   "the --config file, APPLIANCE_* variables and flags), "
                                   "noting where each non-default value came from.")
    p.set_defaults(run=run)


def run(args, config, out) -> int:
    out.write(render_toml(config))
    return 0
