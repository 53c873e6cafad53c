"""What the demo makes before its servers start: its folder (and what a kept demo needs again),
both servers' settings (VitalKey's environment, the portal's TOML file naming VitalKey as a
Withings-compatible provider), and the portal user, made with the portal's own command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from vitalkey.demo import seed

STATE_FILE = "demo.json"  # what a kept demo needs again, written once the seeding is done
MARK_FILE = ".vitalkey-demo"  # the folder is the demo's (written first): a later run may empty it
PORTAL_USERNAME = "demo"
PORTAL_DISPLAY_NAME = "Alex Martin"
NOTIFY_COALESCE_S = 2  # the portal hears of a change within seconds, not VitalKey's default 10


class DemoError(Exception):
    """The demo cannot start; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    port: int = 8000
    portal_port: int = 8100
    keep: bool = False
    every_s: float = 60.0
    folder: Path = Path("demo-data")


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the demo keeps things, inside its folder."""

    root: Path

    @property
    def vitalkey(self) -> Path:
        return self.root / "vitalkey"

    @property
    def portal(self) -> Path:
        return self.root / "portal"

    @property
    def portal_config(self) -> Path:
        return self.root / "portal.toml"

    @property
    def state(self) -> Path:
        return self.root / STATE_FILE

    @property
    def mark(self) -> Path:
        return self.root / MARK_FILE

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"


@dataclass(frozen=True, slots=True)
class DemoState:
    """What the first run made, kept in ``demo.json`` for ``--keep``."""

    account_id: int
    client_id: str
    client_secret: str
    first_day: str  # the first of the seeded days (the weight trend starts there)
    history_until: str  # the moment the history was sent up to (a kept demo sends what followed)
    portal_password: str


def urls(options: DemoOptions) -> tuple[str, str]:
    # The portal on "localhost", VitalKey on "127.0.0.1": two sites, so the browser keeps
    # their cookies apart (cookies ignore ports) as it would for two real domains.
    return f"http://127.0.0.1:{options.port}", f"http://localhost:{options.portal_port}"


def clean_environ() -> dict[str, str]:
    """This process's environment without any VITALKEY_* setting: the demo runs on its own data."""
    return {name: value for name, value in os.environ.items() if not name.startswith("VITALKEY_")}


def vitalkey_environ(options: DemoOptions, layout: Layout) -> dict[str, str]:
    vitalkey_url, _ = urls(options)
    return {
        "VITALKEY_DATA_DIR": str(layout.vitalkey),
        "VITALKEY_DEV_MODE": "true",
        "VITALKEY_HOST": "127.0.0.1",
        "VITALKEY_PORT": str(options.port),
        "VITALKEY_PUBLIC_URL": vitalkey_url,
        "VITALKEY_MAIL_CONSOLE": "false",  # the codes are at /dev/mail; the console shows the demo
        "VITALKEY_NOTIFY_ALLOW_HTTP": "true",  # the portal's callback is http://localhost:…
        "VITALKEY_NOTIFY_ALLOW_LOCAL": "true",
        "VITALKEY_NOTIFY_COALESCE_S": str(NOTIFY_COALESCE_S),
        "VITALKEY_LOG_LEVEL": "warning",
    }


def _toml_string(value: str) -> str:
    # A JSON string is a TOML basic string: the same quotes and escapes (\uXXXX for control
    # characters); other characters are written as they are (TOML has no surrogate escapes).
    return json.dumps(value, ensure_ascii=False)


def portal_toml(options: DemoOptions, layout: Layout, state: DemoState) -> str:
    """The portal's settings: itself, and VitalKey as a Withings-compatible provider."""
    vitalkey_url, portal_url = urls(options)
    top = {
        "brand": "Health2Go",
        "public_url": portal_url,
        "host": "127.0.0.1",
        "port": options.portal_port,
        "dev_mode": True,
        "data_dir": str(layout.portal),
        "timezone": seed.DEMO_TIMEZONE,
    }
    provider = {
        "slug": "vitalkey",
        "name": "VitalKey",
        "logo": "logos/tracker.svg",
        "kind": "withings",
        "authorize_url": f"{vitalkey_url}/oauth2_user/authorize2",
        "api_url": vitalkey_url,
        "client_id": state.client_id,
        "client_secret": state.client_secret,
        "scopes": list(seed.PORTAL_SCOPES),
        "signs_notifications": True,
        "revocation": "withings",
    }
    lines = ["# Written by `vitalkey demo` (made again on each run)."]
    lines += [f"{key} = {_toml_value(value)}" for key, value in top.items()]
    lines += ["", "[[providers]]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in provider.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_string(str(item)) for item in value) + "]"
    return _toml_string(str(value))


# The data folder -----------------------------------------------------------------------------------
def prepare_folder(layout: Layout, keep: bool) -> DemoState | None:
    """The kept state (``--keep`` on a folder a whole demo run made), or None after making the
    folder afresh. A folder without the demo's mark is someone else's: it is never emptied."""
    root = layout.root
    if keep and layout.state.exists():
        try:
            return DemoState(**json.loads(layout.state.read_text()))
        except (ValueError, TypeError):
            raise DemoError(f"{layout.state} cannot be read; run the demo without --keep to start afresh") from None
    if root.exists():
        if not layout.mark.exists() and any(root.iterdir()):
            raise DemoError(
                f"{root} holds files no demo made (no {MARK_FILE}); nothing was deleted. Use another folder."
            )
        shutil.rmtree(root)
    root.mkdir(parents=True)
    layout.mark.write_text("Made by `vitalkey demo`: emptied at its next run (unless --keep).\n")
    return None


def save_state(layout: Layout, state: DemoState) -> None:
    layout.state.write_text(json.dumps(asdict(state), indent=1))
    layout.state.chmod(0o600)  # it holds the portal's client secret and the portal user's password


# The portal, through its command line ----------------------------------------------------------------
def command(name: str) -> str:
    """A console script of this installation (beside this Python), else from PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise DemoError(f"cannot find the {name} command (install VitalKey with ./vk demo)")
    return found


def portal_environ(layout: Layout) -> dict[str, str]:
    return {**clean_environ(), "VITALKEY_PORTAL_CONFIG": str(layout.portal_config)}


def create_portal_user(layout: Layout, state: DemoState) -> None:
    portal = command("vitalkey-portal")
    env = portal_environ(layout)
    for args, stdin in (
        (["migrate"], None),
        (
            ["user", "add", PORTAL_USERNAME, "--display-name", PORTAL_DISPLAY_NAME, "--timezone", seed.DEMO_TIMEZONE,
             "--password-stdin"],
            state.portal_password + "\n",
        ),
    ):  # fmt: skip
        done = subprocess.run(  # noqa: S603 (this installation's own command, arguments of our own)
            [portal, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise DemoError(f"vitalkey-portal {args[0]} failed: {(done.stderr or done.stdout).strip()}")
