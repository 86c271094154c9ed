"""Block Kit checks strict enough to catch what Slack refuses: counts, text lengths, ids, element shapes.

`message_errors` and `view_errors` return Slack-style messages ("... [json-pointer:/blocks/0/text]"); an empty
list means the payload is fine. Slack checks far more than this; the twin covers the limits an app is likely
to break (docs/slack-twin.md lists them).
"""

from __future__ import annotations

from typing import Any

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
MESSAGE_TYPES = {
    "section",
    "header",
    "divider",
    "context",
    "actions",
    "image",
    "rich_text",
    "file",
    "markdown",
    "video",
}
VIEW_TYPES = MESSAGE_TYPES | {"input"}
TEXT_TYPES = {"plain_text", "mrkdwn"}
INTERACTIVE = {
    "button",
    "static_select",
    "multi_static_select",
    "external_select",
    "multi_external_select",
    "users_select",
    "multi_users_select",
    "conversations_select",
    "multi_conversations_select",
    "channels_select",
    "multi_channels_select",
    "overflow",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "checkboxes",
    "radio_buttons",
    "plain_text_input",
    "number_input",
    "email_text_input",
    "url_text_input",
    "rich_text_input",
    "file_input",
}


class _Check:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.action_ids: set[str] = set()
        self.block_ids: set[str] = set()

    def fail(self, message: str, pointer: str) -> None:
        self.errors.append(f"{message} [json-pointer:{pointer}]")

    def text(self, obj: Any, pointer: str, *, limit: int, plain_only: bool = False) -> None:
        if not isinstance(obj, dict) or obj.get("type") not in TEXT_TYPES or not isinstance(obj.get("text"), str):
            self.fail("must provide an object with type and text", pointer)
            return
        if plain_only and obj["type"] != "plain_text":
            self.fail("must be a plain_text text object", f"{pointer}/type")
        if len(obj["text"]) > limit:
            self.fail(f"must be less than {limit + 1} characters", f"{pointer}/text")
        if not obj["text"]:
            self.fail("must be more than 0 characters", f"{pointer}/text")

    def block_id(self, block: dict[str, Any], pointer: str) -> None:
        block_id = block.get("block_id")
        if block_id is None:
            return
        if not isinstance(block_id, str) or not 0 < len(block_id) <= 255:
            self.fail("must be a string of 1 to 255 characters", f"{pointer}/block_id")
        elif block_id in self.block_ids:
            self.fail(f"duplicate block_id {block_id}", f"{pointer}/block_id")
        else:
            self.block_ids.add(block_id)

    def element(self, element: Any, pointer: str) -> None:
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            self.fail("must provide an object with a type", pointer)
            return
        kind = element["type"]
        if kind == "image":
            if not element.get("image_url") and not element.get("slack_file"):
                self.fail("must provide image_url", pointer)
            self._alt(element, pointer)
            return
        if kind in TEXT_TYPES:
            self.text(element, pointer, limit=3000)
            return
        if kind not in INTERACTIVE:
            self.fail(f"unsupported element type {kind}", f"{pointer}/type")
            return
        action_id = element.get("action_id")
        if action_id is not None:
            if not isinstance(action_id, str) or not 0 < len(action_id) <= 255:
                self.fail("must be a string of 1 to 255 characters", f"{pointer}/action_id")
            elif action_id in self.action_ids:
                self.fail(f"duplicate action_id {action_id}", f"{pointer}/action_id")
            else:
                self.action_ids.add(action_id)
        if kind == "button":
            self.text(element.get("text"), f"{pointer}/text", limit=75, plain_only=True)
            value = element.get("value")
            if value is not None and (not isinstance(value, str) or len(value) > 2000):
                self.fail("must be less than 2001 characters", f"{pointer}/value")
            url = element.get("url")
            if url is not None and (not isinstance(url, str) or len(url) > 3000):
                self.fail("must be less than 3001 characters", f"{pointer}/url")
            if element.get("style") not in (None, "primary", "danger"):
                self.fail("must be one of primary, danger", f"{pointer}/style")
        if kind in ("static_select", "multi_static_select", "overflow", "checkboxes", "radio_buttons"):
            options = element.get("options") or []
            groups = element.get("option_groups") or []
            if not options and not groups:
                self.fail("must provide options or option_groups", pointer)
            limit = 5 if kind == "overflow" else 10 if kind in ("checkboxes", "radio_buttons") else 100
            if len(options) > limit:
                self.fail(f"no more than {limit} items allowed", f"{pointer}/options")
            for i, option in enumerate(options):
                if not isinstance(option, dict) or not isinstance(option.get("value"), str):
                    self.fail("must provide an option with text and value", f"{pointer}/options/{i}")
                    continue
                self.text(option.get("text"), f"{pointer}/options/{i}/text", limit=75)
                if len(option["value"]) > 150:
                    self.fail("must be less than 151 characters", f"{pointer}/options/{i}/value")

    def _alt(self, block: dict[str, Any], pointer: str) -> None:
        alt = block.get("alt_text")
        if not isinstance(alt, str) or not alt:
            self.fail("must provide alt_text", f"{pointer}/alt_text")
        elif len(alt) > 2000:
            self.fail("must be less than 2001 characters", f"{pointer}/alt_text")

    def block(self, block: Any, pointer: str, allowed: set[str]) -> None:
        if not isinstance(block, dict) or block.get("type") not in allowed:
            kind = block.get("type") if isinstance(block, dict) else None
            self.fail(f"unsupported type: {kind}", pointer)
            return
        self.block_id(block, pointer)
        self.action_ids = set()  # Slack wants an action_id unique within its block, not across blocks
        kind = block["type"]
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.fail("must provide text or fields", pointer)
            if "text" in block:
                self.text(block["text"], f"{pointer}/text", limit=3000)
            fields = block.get("fields") or []
            if len(fields) > 10:
                self.fail("no more than 10 items allowed", f"{pointer}/fields")
            for i, item in enumerate(fields):
                self.text(item, f"{pointer}/fields/{i}", limit=2000)
            if "accessory" in block:
                self.element(block["accessory"], f"{pointer}/accessory")
        elif kind == "header":
            self.text(block.get("text"), f"{pointer}/text", limit=150, plain_only=True)
        elif kind == "context":
            elements = block.get("elements") or []
            if not elements or len(elements) > 10:
                self.fail("must have 1 to 10 items", f"{pointer}/elements")
            for i, element in enumerate(elements):
                self.element(element, f"{pointer}/elements/{i}")
        elif kind == "actions":
            elements = block.get("elements") or []
            if not elements or len(elements) > 25:
                self.fail("must have 1 to 25 items", f"{pointer}/elements")
            for i, element in enumerate(elements):
                self.element(element, f"{pointer}/elements/{i}")
        elif kind == "image":
            if not block.get("image_url") and not block.get("slack_file"):
                self.fail("must provide image_url", pointer)
            self._alt(block, pointer)
            if "title" in block:
                self.text(block["title"], f"{pointer}/title", limit=2000, plain_only=True)
        elif kind == "input":
            self.text(block.get("label"), f"{pointer}/label", limit=2000, plain_only=True)
            self.element(block.get("element"), f"{pointer}/element")
            if "hint" in block:
                self.text(block["hint"], f"{pointer}/hint", limit=2000, plain_only=True)
        elif kind == "markdown":
            text = block.get("text")
            if not isinstance(text, str) or len(text) > 12_000:
                self.fail("must be a string of up to 12000 characters", f"{pointer}/text")


def _blocks(check: _Check, blocks: Any, *, limit: int, allowed: set[str], pointer: str) -> None:
    if not isinstance(blocks, list):
        check.fail("must be an array", pointer)
        return
    if len(blocks) > limit:
        check.fail(f"no more than {limit} items allowed", pointer)
    for i, block in enumerate(blocks):
        check.block(block, f"{pointer}/{i}", allowed)


def message_errors(blocks: Any) -> list[str]:
    """What Slack would refuse in a message's blocks (at most 50; no input blocks)."""
    check = _Check()
    _blocks(check, blocks, limit=MESSAGE_BLOCKS, allowed=MESSAGE_TYPES, pointer="/blocks")
    return check.errors


def view_errors(view: Any) -> list[str]:
    """What Slack would refuse in a modal or App Home view."""
    check = _Check()
    if not isinstance(view, dict):
        check.fail("must provide an object", "/view")
        return check.errors
    kind = view.get("type")
    if kind not in ("modal", "home"):
        check.fail("must be one of modal, home", "/view/type")
    if kind == "modal":
        check.text(view.get("title"), "/view/title", limit=24, plain_only=True)
        for key in ("submit", "close"):
            if key in view:
                check.text(view[key], f"/view/{key}", limit=24, plain_only=True)
        has_inputs = any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
        if has_inputs and "submit" not in view:
            check.fail("must provide submit when the view has input blocks", "/view/submit")
    metadata = view.get("private_metadata")
    if metadata is not None and (not isinstance(metadata, str) or len(metadata) > 3000):
        check.fail("must be less than 3001 characters", "/view/private_metadata")
    callback_id = view.get("callback_id")
    if callback_id is not None and (not isinstance(callback_id, str) or len(callback_id) > 255):
        check.fail("must be less than 256 characters", "/view/callback_id")
    _blocks(check, view.get("blocks"), limit=VIEW_BLOCKS, allowed=VIEW_TYPES, pointer="/view/blocks")
    return check.errors
