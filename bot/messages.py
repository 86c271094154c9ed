"""What the bot says, chat-neutral: a title, lines, fields, a list of items and the actions offered.

Each platform renders it (bot.slack.blocks for Block Kit; Telegram in its own module) within its own limits;
the offers are core's (`core.notifications.actions.Offer`): an action and the ids it acts on, never a URL.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.notifications.actions import Offer


@dataclass(frozen=True)
class Item:
    """One entry of a list (a post of the week, one delivery of a grouped alert) and what can be done to it."""

    text: str
    offers: tuple[Offer, ...] = ()


@dataclass(frozen=True)
class ChatLink:
    label: str
    url: str


@dataclass(frozen=True)
class ChatMessage:
    """One message: renderers keep its order (title, lines, fields, items, offers, links)."""

    title: str
    lines: tuple[str, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()
    items: tuple[Item, ...] = ()
    offers: tuple[Offer, ...] = ()
    links: tuple[ChatLink, ...] = ()
    more_url: str | None = None  # the whole list, for when a platform's limits cut `items` short
    # Only for the person who typed or clicked (Slack ephemeral, a Telegram DM): consent and download links, refusals.
    private: bool = False
