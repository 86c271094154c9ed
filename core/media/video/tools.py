"""Finding and running ffmpeg/ffprobe safely: lookup on a given PATH, container sniffing, and a subprocess
runner with a wall-clock limit that turns every way a run can end into a typed media error."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.media.errors import MediaRejected, MediaTransient, VideoToolsMissing

# ffprobe's format_name for each demuxer we accept: MP4, MOV and M4V share the first; WebM (and MKV)
# the second. Everything else (AVI, MPEG-TS, FLV, GIF, HLS playlists, concat lists) is refused.
MP4_FAMILY = "mov,mp4,m4a,3gp,3g2,mj2"
WEBM_FAMILY = "matroska,webm"
# Top-level atoms a QuickTime/MP4 file may start with.
_MP4_FIRST_ATOMS = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_NAMED: tuple[tuple[bytes, int, str], ...] = (
    (b"AVI ", 8, "AVI"),
    (b"FLV", 0, "FLV"),
    (b"GIF8", 0, "GIF"),
    (b"OggS", 0, "Ogg"),
    (b"#EXTM3U", 0, "an HLS playlist"),
    (b"ffconcat", 0, "an ffmpeg concat list"),
    (b"\x00\x00\x01\xba", 0, "MPEG-PS"),
)
_TRANSIENT_HINTS = ("No space left on device", "Cannot allocate memory", "Input/output error")
_STDERR_TAIL = 4000


@dataclass(frozen=True, slots=True)
class VideoTools:
    """Absolute paths of the two binaries."""

    ffmpeg: str
    ffprobe: str


def find_tools(tools_path: str | None = None) -> VideoTools:
    """Locate ffmpeg and ffprobe on `tools_path` (os.pathsep-separated dirs; None = $PATH) or raise
    VideoToolsMissing."""
    ffmpeg, ffprobe = shutil.which("ffmpeg", path=tools_path), shutil.which("ffprobe", path=tools_path)
    missing = [name for name, found in (("ffmpeg", ffmpeg), ("ffprobe", ffprobe)) if not found]
    if ffmpeg is None or ffprobe is None:
        raise VideoToolsMissing(
            f"Videos can't be converted on this server ({' and '.join(missing)} not installed); "
            "the original will be published where the platform accepts it.",
            reason="ffmpeg_missing",
            remedy="install ffmpeg on the worker machines (Debian/Ubuntu: apt-get install ffmpeg)",
        )
    return VideoTools(ffmpeg, ffprobe)


def ffmpeg_available(tools_path: str | None = None) -> bool:
    """True when both ffmpeg and ffprobe can be found (on `tools_path`, or $PATH when None)."""
    try:
        find_tools(tools_path)
    except VideoToolsMissing:
        return False
    return True


def sniff_container(path: Path) -> str:
    """MP4_FAMILY or WEBM_FAMILY from the first bytes, or refuse naming what the file looks like."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise MediaTransient(f"Couldn't read the uploaded video ({exc.strerror or exc}).", reason="io") from exc
    if not head:
        raise MediaRejected("The video file is empty (0 bytes).", reason="empty", remedy="upload it again")
    if head[4:8] in _MP4_FIRST_ATOMS:
        return MP4_FAMILY
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return WEBM_FAMILY
    name = next((n for sig, off, n in _NAMED if head[off : off + len(sig)] == sig), None)
    if name is None and head[:1] == b"\x47":
        name = "MPEG-TS"
    what = f"It is {name}, which" if name else "It isn't a video format that"
    raise MediaRejected(
        f"{what} we don't accept; use MP4, MOV or WebM.",
        reason="unsupported_format",
        remedy="export or save the video as MP4 (H.264) and upload it again",
    )


async def run_tool(argv: list[str], *, limit: float, what: str) -> bytes:
    """Run argv with a wall-clock limit; return stdout. Timeouts and bad input are MediaRejected, signals
    and resource exhaustion MediaTransient, a vanished binary VideoToolsMissing."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    except (FileNotFoundError, PermissionError) as exc:
        raise VideoToolsMissing(
            f"{Path(argv[0]).name} could not be started ({exc.strerror or exc}); videos can't be converted.",
            reason="ffmpeg_missing",
        ) from exc
    except OSError as exc:
        raise MediaTransient(f"Couldn't start {Path(argv[0]).name} ({exc.strerror or exc}).", reason="io") from exc
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        # Decided: permanent. The limit scales with the video's length, so a run past it means a pathological
        # file (absurd resolution, hostile stream); retrying would burn the same CPU again. An operator can
        # raise the limit and press Retry.
        raise MediaRejected(
            f"Processing the video ({what}) took longer than {limit:.0f} s, so it was stopped.",
            reason="timeout",
            remedy="try a shorter or smaller video (1080p, H.264)",
        ) from None
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode == 0:
        return stdout
    tail = stderr[-_STDERR_TAIL:].decode("utf-8", "replace").strip()
    last = tail.splitlines()[-1] if tail else f"exit status {proc.returncode}"
    if (proc.returncode or 0) < 0 or any(hint in tail for hint in _TRANSIENT_HINTS):
        # Killed by a signal (often the OOM killer) or the machine ran out of disk/memory: not the file's fault.
        raise MediaTransient(f"Video processing was interrupted ({last}); we'll try again.", reason="interrupted")
    raise MediaRejected(
        f"The video couldn't be processed ({what}): it looks damaged or uses something we can't read ({last}).",
        reason="corrupt",
        remedy="export or save the video as MP4 (H.264) and upload it again",
    )
