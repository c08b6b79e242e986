"""``tipline``: operator tasks. Core tasks live here; each module in ``tipline.cli`` adds its own
sub-commands through ``register(subcommands)`` (units import, export, audit ...)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence
from typing import Any

from tipline.bootstrap import bootstrap, open_storage
from tipline.config import ConfigError, load_settings

Handler = Callable[[argparse.Namespace], int]


async def _migrate(args: argparse.Namespace) -> int:
    settings = load_settings()
    storage = await open_storage(settings)
    try:
        version = await storage.schema_version()
    finally:
        await storage.close()
    print(f"database {settings.tipline_db} is at schema version {version}")
    return 0


async def _purge(args: argparse.Namespace) -> int:
    core = await bootstrap(load_settings())
    try:
        await core.purge()
    finally:
        await core.close()
    print("expired drafts, sessions and counters removed")
    return 0


def _check(args: argparse.Namespace) -> int:
    settings = load_settings()
    settings.secret()
    names = {"telegram": "Telegram", "zalo": "Zalo"}
    channels = " and ".join(names[name] for name in settings.channels)
    mode = f"{channels} bot ({settings.tipline_mode})" if channels else "local console mode"
    print(f"configuration is valid: {mode}, database {settings.tipline_db}")
    return 0


def run_async(handler: Callable[[argparse.Namespace], Any]) -> Handler:
    """Wraps an ``async def`` command so the parser can call it."""
    return lambda args: int(asyncio.run(handler(args)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tipline", description="Tipline operator tasks.")
    subcommands = parser.add_subparsers(dest="command", required=True)
    subcommands.add_parser("migrate", help="create the database or bring its schema up to date").set_defaults(
        handler=run_async(_migrate)
    )
    subcommands.add_parser("purge", help="delete idle drafts, idle chat settings and expired counters").set_defaults(
        handler=run_async(_purge)
    )
    subcommands.add_parser("check-config", help="validate the configuration from the environment").set_defaults(
        handler=_check
    )
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        module.register(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"tipline: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
