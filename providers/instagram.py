"""Instagram business accounts: connect through Facebook Login, publish with the linked Page's token."""

from __future__ import annotations

from typing import Any

from providers.base import Finding, StoredCredentials, Target
from providers.errors import MetadataMissing
from providers.meta_adapter import MetaAdapter
from storage.models.connections import Provider

IG_FIELDS = "id,username,name,profile_picture_url"
LINK_REMEDY = (
    "In Meta Business Suite, link your Instagram professional account to the venue's Facebook Page "
    "(Settings → Linked accounts → Instagram), then connect Instagram again and tick that Page."
)


class InstagramAdapter(MetaAdapter):
    """Publishes to Instagram business accounts linked to the Pages the person ticked."""

    provider = Provider.instagram
    required_scopes: tuple[str, ...] = (
        "instagram_basic",
        "instagram_content_publish",
        "pages_show_list",
        "pages_read_engagement",
    )
    page_fields = f"id,name,access_token,tasks,instagram_business_account{{{IG_FIELDS}}}"

    async def _page_target(self, page: dict[str, Any], token: str) -> Target | None:
        """The Page's linked Instagram account, published to with the Page's token; None when unlinked."""
        ig = page.get("instagram_business_account")
        if not ig:
            return None
        if not ig.get("username"):  # some answers carry only the id inside the edge
            ig = await self.graph.get(str(ig["id"]), token=token, params={"fields": IG_FIELDS})
        username = str(ig.get("username") or ig["id"])
        return Target(
            provider=self.provider,
            external_id=str(ig["id"]),
            name=f"@{username}",
            access_token=token,
            token_expires_at=await self.page_token_expiry(token),
            page_id=str(page["id"]),
            ig_business_id=str(ig["id"]),
            details={
                "username": username,
                "page_name": page.get("name"),
                "tasks": list(page.get("tasks") or []),
                "profile_picture_url": ig.get("profile_picture_url"),
            },
        )

    def _no_targets(self) -> MetadataMissing:
        return MetadataMissing(
            "None of the Facebook Pages you shared has an Instagram professional account linked.",
            provider=self.provider.value,
            remedy=LINK_REMEDY,
        )

    async def _target_findings(self, credentials: StoredCredentials) -> list[Finding]:
        page, reach = await self._reach_page(credentials, "id,name,tasks,instagram_business_account")
        if page is None:
            return [reach]
        name = str(page.get("name"))
        tasks = page.get("tasks")
        findings = [reach, self._tasks_finding(list(tasks) if tasks is not None else None, name)]
        linked = (page.get("instagram_business_account") or {}).get("id")
        expected = credentials.ig_business_id or credentials.external_id
        if linked is None:
            message = f"No Instagram account is linked to {name} any more."
            findings.append(Finding("instagram_linked", False, message, LINK_REMEDY))
        elif str(linked) != expected:
            message = f"{name} is now linked to a different Instagram account."
            remedy = "Connect Instagram again to pick up the account now linked to the Page."
            findings.append(Finding("instagram_linked", False, message, remedy))
        else:
            findings.append(Finding("instagram_linked", True, f"The Instagram account is still linked to {name}."))
        return findings
