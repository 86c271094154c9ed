"""The first file of a multipart/form-data body (a browser form, `curl -F file=@photo.jpg`), streamed.

The body is parsed as it arrives and the file's bytes are handed on chunk by chunk, so a huge file is
refused at the size limit by the same streaming path as a raw upload, never held in memory or spooled to
disk first (Litestar's own form parsing would spool it). Other form fields are skipped unread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from multipart import (  # type: ignore[import-untyped]
    MultipartSegment,
    ParserError,
    ParserLimitReached,
    PushMultipartParser,
)

from core.media.errors import UploadMalformed

# A form's own bytes around the file (boundaries, part headers, small fields): the media route's body limit
# is the file limit plus this, so a file just under the limit still fits once wrapped in a form.
FORM_OVERHEAD_BYTES = 64 * 1024
# A form from a browser or curl has a handful of parts; this many means something else is going on.
MAX_PARTS = 32


@dataclass(frozen=True)
class FormFile:
    """The first file part: the name and type the sender gave (hints only) and its bytes as they arrive."""

    field: str | None
    filename: str | None
    content_type: str | None
    chunks: AsyncIterator[bytes]


async def first_file(body: AsyncIterator[bytes], boundary: str) -> FormFile | None:
    """Read the form up to its first file part (any field name) and return it; None when it has none."""
    if not boundary:
        raise _malformed("the multipart/form-data Content-Type has no boundary")
    events = _events(body, boundary)
    async for event in events:
        # A part is a file when it carries a filename; a browser sends filename="" for "no file chosen".
        if isinstance(event, MultipartSegment) and event.filename:
            return FormFile(event.name, event.filename, event.content_type, _data(events))
    return None


async def _events(body: AsyncIterator[bytes], boundary: str) -> AsyncIterator[MultipartSegment | bytes | None]:
    try:
        parser = PushMultipartParser(boundary, max_segment_count=MAX_PARTS)
        async for chunk in body:
            if not chunk:
                continue
            for event in parser.parse(chunk):
                yield event
            if parser.closed:
                return
        for event in parser.parse(b""):  # the end of the body: refuses a form cut short
            yield event
    except ParserLimitReached:
        raise _malformed(f"the form has more than {MAX_PARTS} parts or a header line that is too long") from None
    except ParserError as exc:
        raise _malformed(f"the form data is malformed ({exc})") from None


async def _data(events: AsyncIterator[MultipartSegment | bytes | None]) -> AsyncIterator[bytes]:
    """The current part's bytes, up to its end; the rest of the form is left unread."""
    async for event in events:
        if event is None:
            return
        if isinstance(event, bytes | bytearray):
            yield bytes(event)


def _malformed(what: str) -> UploadMalformed:
    return UploadMalformed(
        f"The upload couldn't be read: {what}.",
        reason="malformed_form",
        remedy="send the photo or video as a file field (curl -F file=@photo.jpg), or as the raw request body",
    )
