"""`appliance tui`: the dashboard, attached to a running server through its admin API."""

from __future__ import annotations


def add_parser(sub, common) -> None:
    p = sub.add_parser("tui", parents=[common], help="the terminal dashboard of a running server",
                       description="Watch ingest, storage, export and jobs, and launch jobs, "
                                   "over the admin API of a running `appliance serve`. "
                                   "Press ? in the dashboard for its keys.")
    p.add_argument("--admin", metavar="URL",
                   help="admin API address, http://HOST:PORT or unix:PATH (default: the one "
                        "the server of this data dir wrote, else [admin] listen)")
    p.add_argument("--token-file", metavar="FILE",
                   help="admin token (default: [admin] token_file, else <data_dir>/admin.token)")
    p.set_defaults(run=run)


def run(args, config, out) -> int:
    from appliance.admin.client import AdminClient
    from appliance.tui import DashboardApp

    client = AdminClient.from_config(config, url=args.admin, token_file=args.token_file)
    DashboardApp(client, target=args.admin or str(config.data_dir)).run()
    return 0
