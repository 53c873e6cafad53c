"""``vitalkey demo``: VitalKey and the partner portal (Health2Go) side by side, ready to walk
through the four seed articles in a browser.

It makes its own data folder (``./demo-data``, fresh each run unless ``--keep``), seeds VitalKey
in-process before its server starts (see ``seed.py``), writes the portal's TOML settings naming
VitalKey as a Withings-compatible provider, creates the portal user with the portal's own command
line, then runs ``vitalkey serve`` and ``vitalkey-portal serve`` as child processes and, every
``--every`` seconds, sends the demo user's new weigh-in and the day's steps (and what the devices
recorded meanwhile) to VitalKey's JSON API as the companion app would, so that notifications and
"Last sync" can be watched. Ctrl-C stops both servers.

The portal is a separate app: nothing here imports it; it is driven through its command line.
"""

from __future__ import annotations

from vitalkey.demo.run import run
from vitalkey.demo.setup import DemoError, DemoOptions

__all__ = ["DemoError", "DemoOptions", "run"]
