"""The `tunequeue` subcommands, one module each; `worker.cli` is the argparse shell that dispatches to them.

Each command module has `register(commands)`, which adds its subparser with a `handler(args) -> int`. The modules
below the commands hold what several share: `errors` (user errors), `lookup` (Redis and experiment ids), `spec`
(checking a CSV into an experiment spec), `follow` (submit, follow, print) and `render` (progress line and tables).
"""
