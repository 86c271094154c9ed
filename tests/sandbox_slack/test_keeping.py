"""The twin's state survives a restart when it has a state file (`make dev`), and lives in memory without one."""

from __future__ import annotations

from pathlib import Path

from sandbox.slack.twin import running_slack_twin


async def test_installs_messages_and_files_survive_a_restart(tmp_path: Path) -> None:
    kept = tmp_path / "twins" / "slack.json"
    async with running_slack_twin(state_file=kept) as (_url, control, state):
        token = await control.install(scopes=["chat:write"])
        channel = state.channels["C0ALERTS01"]
        grant = state.check_token(token)
        posted = state.post(channel, grant, "Couldn't publish", None)
        state.edit(posted, "Published again", None)

    async with running_slack_twin(state_file=kept) as (_url, control, state):
        (message,) = await control.messages("alerts")
        assert message["text"] == "Published again" and message["edits"][0]["text"] == "Couldn't publish"
        assert state.check_token(token).scopes == ["chat:write"]
        assert state.new_ts() > posted.ts  # message ids keep increasing across runs

    async with running_slack_twin() as (_url, control, _state):
        assert await control.messages("alerts") == []
