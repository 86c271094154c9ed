"""`cheers slack`: the Slack app's setup from the shell (the manifest to paste at api.slack.com/apps)."""

from __future__ import annotations

import json

import click

from api.cli_support import emit
from bot.slack.manifest import manifest
from core.settings import Settings


@click.group()
def slack() -> None:
    """The Slack app: its manifest (docs/slack.md)."""


@slack.command("manifest")
@click.pass_context
def print_manifest(ctx: click.Context) -> None:
    """The app manifest with CHEERS_PUBLIC_URL filled in: paste it at api.slack.com/apps → Create New App."""
    document = manifest(Settings().cheers_public_url)
    emit(ctx, document, json.dumps(document, indent=2))


def register(cli: click.Group) -> None:
    """Add the Slack commands to the `cheers` group."""
    cli.add_command(slack)
