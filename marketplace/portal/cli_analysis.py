"""`flask --app marketplace analysis worker`: analyse uploads queued in Redis (REDIS_URL)."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from marketplace.parts import operations as parts


@click.group("analysis")
def analysis_cli() -> None:
    """Background analysis of uploaded parts."""


@analysis_cli.command("worker")
@click.option("--once", is_flag=True, help="Stop when the queue is empty.")
@click.option("--block", "block_s", default=5, show_default=True,
              help="Seconds to wait for a job before checking again.")
@with_appcontext
def worker_command(once: bool, block_s: int) -> None:
    """Take analysis jobs from the Redis queue and run them (each in a child process)."""
    app = current_app._get_current_object()
    if not app.config.get("REDIS_URL"):
        click.echo("error: REDIS_URL is not set (without it the web process analyses "
                   "uploads in its own worker threads)", err=True)
        sys.exit(2)
    count = parts.run_redis_worker(app, once=once, block_s=block_s)
    click.echo(f"{count} analysed")
