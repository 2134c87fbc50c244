"""Write docs/images/tui-*.svg: every dashboard screen over the fake client's data.

    .venv/bin/python -m tests.tui.make_screenshots [DIR]

The same app, data and key presses as the snapshot tests, at 100x30.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.tui.conftest import dashboard, settle
from tests.tui.fakeclient import FakeClient
from tests.tui.test_snapshots import SCREENS

SIZE = (100, 30)


async def shoot(name: str, keys: tuple[str, ...], out: Path) -> None:
    app = dashboard(FakeClient())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        app.save_screenshot(f"tui-{name.replace('_', '-')}.svg", str(out))


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else Path("docs/images")
    out.mkdir(parents=True, exist_ok=True)
    for name, keys in SCREENS.items():
        asyncio.run(shoot(name, keys, out))
        print(out / f"tui-{name.replace('_', '-')}.svg")


if __name__ == "__main__":
    main(sys.argv[1:])
