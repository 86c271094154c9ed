"""Several refusals shown as one message read cleanly: no ".;" where a sentence meets the separator."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from core.errors import join_messages
from providers.errors import Permanent
from providers.google.errors import error_from_response


def test_sentences_are_joined_with_a_space() -> None:
    joined = join_messages(["Instagram posts need a photo or a video.", "Business Profile updates need some text."])
    assert joined == "Instagram posts need a photo or a video. Business Profile updates need some text."


def test_clauses_are_joined_with_a_semicolon() -> None:
    joined = join_messages(["publishing to Facebook The Crown is in progress", "Instagram the_crown may have it"])
    assert joined == "publishing to Facebook The Crown is in progress; Instagram the_crown may have it"


def test_a_sentence_then_a_clause_never_reads_dot_semicolon() -> None:
    joined = join_messages(["Too long.", " ", "", "too many hashtags", "No photo!"])
    assert joined == "Too long. too many hashtags; No photo!"
    assert ".;" not in joined


def test_googles_field_violations_are_listed_without_dot_semicolon() -> None:
    body = {
        "error": {
            "code": 400,
            "status": "INVALID_ARGUMENT",
            "message": "Request contains an invalid argument.",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [
                        {"field": "summary", "description": "Must be at most 1500 characters."},
                        {"field": "callToAction.url", "description": "Invalid URL."},
                    ],
                }
            ],
        }
    }
    error = error_from_response(httpx.Response(400, json=body), now=lambda: datetime(2026, 11, 25, tzinfo=UTC))
    assert isinstance(error, Permanent), error
    assert str(error.message) == (
        "Google refused the request (summary: Must be at most 1500 characters; callToAction.url: Invalid URL)."
    ), error.message


def test_a_malformed_request_lists_its_field_errors_without_dot_semicolon() -> None:
    from api.problems import _summarise  # the summary is private; the 400 it feeds is covered in tests/api

    errors = [{"key": "name", "message": "Too long."}, {"key": "when", "message": "Expected `str`, got `int`"}]
    assert _summarise(errors, "bad") == "name: Too long; when: Expected `str`, got `int`"
