"""Sub-commands of ``tipline``: each module here defines ``register(subcommands)``, which adds its
parsers with ``set_defaults(handler=...)`` (a function of the parsed arguments returning an exit code;
wrap ``async def`` handlers with ``tipline.cli.run_async``)."""
