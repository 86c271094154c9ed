"""The Slack app manifest (api.slack.com/reference/manifests) with this service's public URL filled in.

`cheers slack manifest` prints it; docs/slack.md explains each part. Scopes are the fewest that let the bot do
what it does, each with the reason it is asked for.
"""

from __future__ import annotations

from typing import Any

# Bot scopes, each with why CheersAI asks for it (docs/slack.md repeats these).
SCOPES: dict[str, str] = {
    "commands": "the /cheers slash command",
    "chat:write": "post alerts, edit them in place when the problem is solved, answer privately (ephemeral)",
    "chat:write.public": "post alerts to a public channel where someone typed /cheers alerts here, without "
    "inviting the bot first (a private channel still needs /invite @CheersAI)",
    "im:write": "open the direct message a person asked for with /cheers alerts me",
    "files:write": "upload a manual package (zip) into the alert's thread",
}
# Events need no extra scope: the Home tab, and removal of the app or its token (which erases the stored token).
BOT_EVENTS = ("app_home_opened", "app_uninstalled", "tokens_revoked")


def manifest(public_url: str) -> dict[str, Any]:
    """The manifest for an app served at `public_url` (CHEERS_PUBLIC_URL): one Request URL for everything."""
    events_url = f"{public_url}/slack/events"
    return {
        "display_information": {
            "name": "CheersAI",
            "description": "Schedule your venue's posts, see the week and fix failed posts from Slack.",
            "background_color": "#b45309",
        },
        "features": {
            "app_home": {"home_tab_enabled": True, "messages_tab_enabled": False},
            "bot_user": {"display_name": "CheersAI", "always_online": True},
            "slash_commands": [
                {
                    "command": "/cheers",
                    "url": events_url,
                    "description": "Schedule posts, see the week, retry and reconnect",
                    "usage_hint": 'week | schedule fri 18:00 "Quiz night!" | retry 17 | help',
                    "should_escape": False,
                }
            ],
        },
        "oauth_config": {
            "redirect_urls": [f"{public_url}/slack/oauth_redirect"],
            "scopes": {"bot": list(SCOPES)},
        },
        "settings": {
            "event_subscriptions": {"request_url": events_url, "bot_events": list(BOT_EVENTS)},
            "interactivity": {"is_enabled": True, "request_url": events_url},
            "org_deploy_enabled": False,
            "socket_mode_enabled": False,
            "token_rotation_enabled": False,
        },
    }
