"""The Google twin's vocabulary: API hosts, scopes, lifetimes, and the scenario (users, accounts, locations).

The spec dataclasses are also the JSON wire format of the control interface (`PUT /_twin/scenario`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

# The real hosts the twin stands in for. Requests may carry one as a leading path segment
# (`/oauth2.googleapis.com/token`), so a test can check that each call went to the right origin.
AUTH_HOST = "accounts.google.com"
OAUTH_HOST = "oauth2.googleapis.com"
WWW_HOST = "www.googleapis.com"
ACCOUNTS_API = "mybusinessaccountmanagement.googleapis.com"
INFO_API = "mybusinessbusinessinformation.googleapis.com"
POSTS_API = "mybusiness.googleapis.com"
BUSINESS_APIS = (ACCOUNTS_API, INFO_API, POSTS_API)
KNOWN_HOSTS = (AUTH_HOST, OAUTH_HOST, WWW_HOST, *BUSINESS_APIS)
SERVICE_TITLES = {
    ACCOUNTS_API: "My Business Account Management API",
    INFO_API: "My Business Business Information API",
    POSTS_API: "Google My Business API",
}

BUSINESS_MANAGE = "https://www.googleapis.com/auth/business.manage"
LEGACY_BUSINESS_MANAGE = "https://www.googleapis.com/auth/plus.business.manage"
EMAIL_SCOPE = "https://www.googleapis.com/auth/userinfo.email"
PROFILE_SCOPE = "https://www.googleapis.com/auth/userinfo.profile"

ACCESS_TOKEN_TTL = timedelta(seconds=3599)
CODE_TTL = timedelta(minutes=10)
# A consent screen in "Testing" status makes refresh tokens die after 7 days; any refresh token
# unused for six months dies too (docs/providers.md#google-oauth).
TESTING_REFRESH_TTL = timedelta(days=7)
UNUSED_REFRESH_TTL = timedelta(days=183)

ACCOUNTS_PAGE_MAX = 20  # accounts.list: "The default and maximum is 20"
LOCATIONS_PAGE_DEFAULT = 10
LOCATIONS_PAGE_MAX = 100

UNAUTHENTICATED_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
MISSING_CREDENTIAL_MESSAGE = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or "
    "other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
NO_PERMISSION_MESSAGE = "The caller does not have permission"
REQUEST_ACCESS_URL = "https://developers.google.com/my-business/content/prereqs#request-access"


@dataclass
class LocationSpec:
    """One Business Profile location; `id` is the bare number of `locations/{id}`."""

    id: str
    title: str
    address_lines: list[str] = field(default_factory=list)
    locality: str = ""
    postal_code: str = ""
    region_code: str = "GB"
    store_code: str = ""
    phone: str = ""


@dataclass
class AccountSpec:
    """A Business Profile account (`accounts/{id}`); the same id under two users is one shared account."""

    id: str
    account_name: str
    type: str = "PERSONAL"
    role: str = "PRIMARY_OWNER"
    verification_state: str = "VERIFIED"
    vetted_state: str = "NOT_VETTED"
    permission_level: str = "OWNER_LEVEL"
    locations: list[LocationSpec] = field(default_factory=list)


@dataclass
class UserSpec:
    """A Google user who can consent; `sub` is derived from the e-mail when left empty."""

    email: str
    name: str = ""
    sub: str = ""
    accounts: list[AccountSpec] = field(default_factory=list)


@dataclass
class ScenarioSpec:
    """Everything the twin knows about the world; `users[0]` consents unless told otherwise."""

    users: list[UserSpec] = field(default_factory=list)
    project_number: str = "123456789012"


@dataclass
class ConsentSpec:
    """How the consent page behaves: who approves, whether they deny, which requested scopes they untick."""

    user_email: str | None = None
    deny: bool = False
    withhold_scopes: list[str] = field(default_factory=list)


def default_scenario() -> ScenarioSpec:
    """The `make dev` world: one owner, one account, two locations (enough for the pick flow)."""
    return ScenarioSpec(
        users=[
            UserSpec(
                email="sandbox.owner@example.com",
                name="Sandbox Owner",
                accounts=[
                    AccountSpec(
                        id="1000",
                        account_name="Sandbox Owner",
                        locations=[
                            LocationSpec(
                                id="2001",
                                title="The Red Lion",
                                address_lines=["1 High Street"],
                                locality="Bristol",
                                postal_code="BS1 1AA",
                                store_code="RL-1",
                            ),
                            LocationSpec(
                                id="2002",
                                title="The Red Lion Kitchen",
                                address_lines=["3 High Street"],
                                locality="Bristol",
                                postal_code="BS1 1AB",
                                store_code="RL-2",
                            ),
                        ],
                    )
                ],
            )
        ]
    )


def subject_for(email: str) -> str:
    """A stable, Google-looking numeric subject id for an e-mail address."""
    return str(100000000000000000000 + int(hashlib.sha256(email.encode()).hexdigest()[:15], 16))


def location_resource(spec: LocationSpec) -> dict[str, Any]:
    """The full v1 Location resource; readMask picks fields from it."""
    resource: dict[str, Any] = {
        "name": f"locations/{spec.id}",
        "languageCode": "en-GB",
        "title": spec.title,
        "storefrontAddress": {
            "regionCode": spec.region_code,
            "languageCode": "en-GB",
            "postalCode": spec.postal_code,
            "locality": spec.locality,
            "addressLines": list(spec.address_lines),
        },
        "metadata": {
            "mapsUri": f"https://maps.google.com/maps?cid={spec.id}",
            "newReviewUri": f"https://search.google.com/local/writereview?placeid=sandbox-{spec.id}",
            "hasVoiceOfMerchant": True,
        },
        "openInfo": {"status": "OPEN", "canReopen": True},
    }
    if spec.store_code:
        resource["storeCode"] = spec.store_code
    if spec.phone:
        resource["phoneNumbers"] = {"primaryPhone": spec.phone}
    return resource


# Top-level Location fields a readMask may name (others are rejected as an invalid mask).
LOCATION_FIELDS = frozenset(
    {
        "name",
        "languageCode",
        "storeCode",
        "title",
        "phoneNumbers",
        "categories",
        "storefrontAddress",
        "websiteUri",
        "regularHours",
        "specialHours",
        "serviceArea",
        "labels",
        "adWordsLocationExtensions",
        "latlng",
        "openInfo",
        "metadata",
        "profile",
        "relationshipData",
        "moreHours",
        "serviceItems",
    }
)
