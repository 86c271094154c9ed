"""Approvals and the week's posts in chat, as chat-neutral ChatMessages: a decision, Approve all's outcome, a
skipped post, and Edit's private answer (the post's text and time with the exact `edit` commands that change them).

Pure functions, like bot.render; Telegram's commands are written with their slash.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.messages import ChatMessage, Item
from core.chat.approvals import PostOutcome
from core.posts.views import PostView
from core.vocabulary import ChatPlatform

APPROVAL_WORDS = {"pending": "waiting for approval", "approved": "approved", "rejected": "rejected"}


def _command(platform: ChatPlatform, text: str) -> str:
    return f"/{text}" if platform is ChatPlatform.telegram else text


def decided(message: str, view: PostView) -> ChatMessage:
    """An approver's decision on one post, as told to them (the author is told through approval_decided)."""
    title = f"Post {view.id} {APPROVAL_WORDS.get(view.approval or '', 'decided')}"
    return ChatMessage(
        title=title, lines=(message,), fields=(("When", view.scheduled_local), ("Text", view.excerpt or "(no text)"))
    )


def approved_all(outcomes: Sequence[PostOutcome]) -> ChatMessage:
    """Approve all's outcome: how many were approved now, and each post that was not (already decided: by whom)."""
    approved = [o for o in outcomes if o.approved]
    others = [o for o in outcomes if not o.approved]
    if not outcomes:
        return ChatMessage(title="Nothing to approve", lines=("This message lists no posts.",), private=True)
    title = f"Approved {len(approved)} of {len(outcomes)} post{'s' if len(outcomes) != 1 else ''}"
    lines = ("They go out at their times.",) if approved else ()
    items = tuple(Item(f"Post {o.post_id}: {o.message}") for o in others)
    return ChatMessage(title=title, lines=lines, items=items)


def skipped(post_id: int, message: str) -> ChatMessage:
    """A week's post skipped: not sent, and the plan will not make that date again."""
    return ChatMessage(
        title=f"Post {post_id} skipped",
        lines=(message, "The weekly plan will not make it again for that date."),
    )


def edit_help(view: PostView, platform: ChatPlatform) -> ChatMessage:
    """Edit pressed: the post's current text and time, privately, with the exact commands that change them."""
    text_command = _command(platform, f'edit {view.id} text "{view.text}"')
    when_command = _command(platform, f"edit {view.id} when fri 8pm")
    lines: tuple[str, ...] = (
        f"Text: {view.text or '(no text)'}",
        f"When: {view.scheduled_local}",
        f"To change the text, send (with your words in the quotes): {text_command}",
        f"To change the time, send (any time you'd type for schedule): {when_command}",
    )
    if view.approval == "pending":
        lines += ("It still waits for approval.",)
    return ChatMessage(title=f"Edit post {view.id}", lines=lines, private=True)


def edited(message: str, view: PostView) -> ChatMessage:
    """A post changed from chat (`edit`): what changed and where it stands now."""
    lines = [message]
    if view.approval == "pending":
        lines.append("It waits for approval again.")
    return ChatMessage(
        title=f"Post {view.id} changed",
        lines=tuple(lines),
        fields=(("When", view.scheduled_local), ("Text", view.excerpt or "(no text)")),
    )
