"""The operator's dashboard (Textual): overview, partitions, jobs and log over the admin API.

`DashboardApp(client)` takes an AdminClient, or anything with its methods (the
tests use a fake); `appliance tui` attaches it to a running server and
`appliance serve --tui` runs it inside the server process.
"""

from appliance.tui.app import DashboardApp

__all__ = ["DashboardApp"]
