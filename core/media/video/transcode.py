"""Video intake with ffprobe and ffmpeg: probe, check against the Reels/Facebook limits, transcode to
H.264/AAC MP4 (yuv420p, moov first, no edit lists) and take a poster frame. Pure: no database, no HTTP.

Both binaries run as asyncio subprocesses with a wall-clock limit, reading only `file:` inputs through
a demuxer allow-list. Without ffmpeg every call raises VideoToolsMissing (the job marks the asset skipped).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from core.media.errors import MediaRejected
from core.media.video.tools import MP4_FAMILY, WEBM_FAMILY, ffmpeg_available, find_tools, run_tool, sniff_container

__all__ = ["VideoDerivative", "VideoInfo", "VideoLimits", "check_video", "ffmpeg_available", "probe", "transcode"]

MB = 1_000_000


@dataclass(frozen=True, slots=True)
class VideoLimits:
    """Reels and Facebook video rules (docs/providers.md, mostly third-party) plus our own safety limits."""

    min_duration: float = 3.0
    max_duration: float = 15 * 60.0
    # Reels' size limit is reported as 300 MB (Ayrshare's English page) and 1 GB (its newer translations):
    # the sources conflict, so default to the smaller and keep it configurable.
    max_output_bytes: int = 300 * MB
    max_long_side: int = 1920
    min_fps: float = 23.0
    max_fps: float = 60.0
    max_audio_rate: int = 48_000
    # An 8K frame; anything larger is refused before ffmpeg decodes a frame.
    max_frame_pixels: int = 7680 * 4320
    allowed_containers: frozenset[str] = field(default_factory=lambda: frozenset({MP4_FAMILY, WEBM_FAMILY}))
    probe_timeout: float = 30.0
    # Wall-clock limit for a transcode: base + per_second x the video's duration.
    transcode_timeout_base: float = 120.0
    transcode_timeout_per_second: float = 4.0
    crf: int = 23
    x264_preset: str = "veryfast"
    max_video_kbps: int = 8_000
    audio_kbps: int = 128


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What ffprobe found; width and height are as displayed (phone rotation applied)."""

    container: str
    duration: float
    width: int
    height: int
    fps: float
    video_codec: str
    pix_fmt: str | None
    audio_codec: str | None
    audio_sample_rate: int | None
    audio_channels: int | None
    rotation: int
    byte_size: int


@dataclass(frozen=True, slots=True)
class VideoDerivative:
    """The transcoded MP4 and its poster JPEG (same pixel size as the video), both inside out_dir."""

    path: Path
    poster_path: Path
    info: VideoInfo

    @property
    def byte_size(self) -> int:
        return self.info.byte_size


DEFAULT_VIDEO_LIMITS = VideoLimits()


async def probe(path: Path, *, limits: VideoLimits = DEFAULT_VIDEO_LIMITS, tools_path: str | None = None) -> VideoInfo:
    """ffprobe the file (allowed containers only, `file:` protocol only) and describe its first video stream."""
    tools = find_tools(tools_path)
    sniffed = await asyncio.to_thread(sniff_container, path)
    if sniffed not in limits.allowed_containers:
        raise MediaRejected("This video container isn't accepted here; use MP4 or MOV.", reason="unsupported_format")
    raw = await run_tool(
        [
            tools.ffprobe,
            "-hide_banner",
            "-v",
            "error",
            *_input_guard(limits),
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            _file_url(path),
        ],
        limit=limits.probe_timeout,
        what="reading it",
    )
    return _parse_probe(raw, limits)


def check_video(info: VideoInfo, limits: VideoLimits = DEFAULT_VIDEO_LIMITS) -> None:
    """Refuse (MediaRejected) a video outside the duration or frame-size limits, saying which and by how much."""
    if info.duration < limits.min_duration:
        raise MediaRejected(
            f"This video is {info.duration:.1f} s long; Instagram Reels need at least {limits.min_duration:.0f} s.",
            reason="too_short",
            remedy="use a longer clip",
        )
    if info.duration > limits.max_duration:
        raise MediaRejected(
            f"This video is {info.duration / 60:.1f} minutes long; the most Reels take is "
            f"{limits.max_duration / 60:.0f} minutes.",
            reason="too_long",
            remedy="trim it and upload again",
        )
    if info.width * info.height > limits.max_frame_pixels:
        raise MediaRejected(
            f"This video is {info.width}×{info.height}, more than the {limits.max_frame_pixels / 1e6:.0f} megapixels "
            "a frame we process.",
            reason="too_many_pixels",
            remedy="export it at 1080p and upload again",
        )


async def transcode(
    path: Path, out_dir: Path, limits: VideoLimits = DEFAULT_VIDEO_LIMITS, *, tools_path: str | None = None
) -> VideoDerivative:
    """Probe, check, then write out_dir/video.mp4 (H.264/AAC, yuv420p, faststart) and out_dir/poster.jpg."""
    tools = find_tools(tools_path)
    info = await probe(path, limits=limits, tools_path=tools_path)
    check_video(info, limits)
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    # Write under temporary names and rename at the end: a killed run never leaves a half file behind
    # under the name the library serves.
    partial_video, partial_poster = out_dir / "video.partial.mp4", out_dir / "poster.partial.jpg"
    final_video, final_poster = out_dir / "video.mp4", out_dir / "poster.jpg"
    try:
        timeout = limits.transcode_timeout_base + limits.transcode_timeout_per_second * info.duration
        await run_tool(
            [
                tools.ffmpeg,
                *_FFMPEG_GLOBAL,
                *_input_guard(limits),
                *("-i", _file_url(path)),
                *_encode_args(info, limits),
                _file_url(partial_video),
            ],
            limit=timeout,
            what="converting it to MP4",
        )
        out_info = await probe(partial_video, limits=limits, tools_path=tools_path)
        if out_info.byte_size > limits.max_output_bytes:
            raise MediaRejected(
                f"Even converted, this video is {out_info.byte_size / MB:.0f} MB; the limit is "
                f"{limits.max_output_bytes / MB:.0f} MB.",
                reason="too_large",
                remedy="trim it or upload a lower-resolution version",
            )
        poster_at = min(1.0, out_info.duration / 3)
        await run_tool(
            [
                tools.ffmpeg,
                *_FFMPEG_GLOBAL,
                *_input_guard(limits),
                *("-ss", f"{poster_at:.3f}", "-i", _file_url(partial_video)),
                *("-frames:v", "1", "-map_metadata", "-1", "-q:v", "3", "-update", "1", "-f", "image2"),
                _file_url(partial_poster),
            ],
            limit=limits.probe_timeout,
            what="taking a poster frame",
        )
        await asyncio.to_thread(os.replace, partial_video, final_video)
        await asyncio.to_thread(os.replace, partial_poster, final_poster)
    finally:
        for leftover in (partial_video, partial_poster):
            await asyncio.to_thread(leftover.unlink, missing_ok=True)
    return VideoDerivative(final_video, final_poster, out_info)


# Never read stdin (a worker has none worth reading), overwrite our own partial files, print only errors.
_FFMPEG_GLOBAL = ("-hide_banner", "-nostdin", "-y", "-v", "error")


def _input_guard(limits: VideoLimits) -> list[str]:
    # Input options: only local files (no http, concat, subfile or pipe tricks inside a playlist or a
    # reference movie) and only the allowed demuxers (no HLS or concat parsers, no AVI oddities).
    demuxers = sorted({name for family in limits.allowed_containers for name in family.split(",")})
    return ["-protocol_whitelist", "file", "-format_whitelist", ",".join(demuxers)]


def _file_url(path: Path) -> str:
    # An explicit file: URL stops a name like "http:x" or "concat:a|b" being read as another protocol.
    return "file:" + str(path.resolve())


def _encode_args(info: VideoInfo, limits: VideoLimits) -> list[str]:
    width, height = _target_size(info.width, info.height, limits.max_long_side)
    fps = _clamp_fps(info.fps, limits)
    # Keep the whole file under max_output_bytes: cap the video bitrate (VBV) at what the size budget
    # allows over this duration, leaving 10% for container overhead and the audio track.
    budget_kbps = int(limits.max_output_bytes * 8 * 0.9 / max(info.duration, 1.0) / 1000) - limits.audio_kbps
    video_kbps = max(300, min(limits.max_video_kbps, budget_kbps))
    gop = max(1, round(float(Fraction(fps)) * 2))
    args = ["-map", "0:v:0", "-map", "0:a:0?", "-map_metadata", "-1", "-map_chapters", "-1", "-sn", "-dn"]
    args += ["-vf", f"scale={width}:{height}:flags=lanczos,setsar=1,fps={fps}"]
    args += ["-c:v", "libx264", "-preset", limits.x264_preset, "-crf", str(limits.crf), "-profile:v", "high"]
    args += ["-pix_fmt", "yuv420p", "-maxrate", f"{video_kbps}k", "-bufsize", f"{video_kbps * 2}k"]
    args += ["-g", str(gop), "-keyint_min", str(gop)]
    if info.audio_codec:
        rate = min(info.audio_sample_rate or limits.max_audio_rate, limits.max_audio_rate)
        channels = min(info.audio_channels or 2, 2)
        args += ["-c:a", "aac", "-b:a", f"{limits.audio_kbps}k", "-ar", str(rate), "-ac", str(channels)]
    else:
        args += ["-an"]
    # moov at the front (Reels requirement; lets providers start reading before the end) and no edit lists.
    args += ["-movflags", "+faststart", "-use_editlist", "0", "-f", "mp4"]
    return args


def _target_size(width: int, height: int, max_long_side: int) -> tuple[int, int]:
    """Fit the long side within max_long_side (never upscale) with even dimensions, as yuv420p needs."""
    scale = min(1.0, max_long_side / max(width, height))

    def even(v: float) -> int:
        return max(2, int(v) // 2 * 2)

    return even(width * scale), even(height * scale)


def _clamp_fps(fps: float, limits: VideoLimits) -> str:
    if fps <= 0:
        return "30"
    if fps < limits.min_fps:
        return f"{limits.min_fps:g}"
    if fps > limits.max_fps:
        return f"{limits.max_fps:g}"
    # Keep NTSC rates exact (30000/1001), so frames aren't dropped or duplicated for nothing.
    return str(Fraction(fps).limit_denominator(1001))


def _parse_probe(raw: bytes, limits: VideoLimits) -> VideoInfo:
    try:
        data = json.loads(raw or b"{}")
        fmt: dict[str, Any] = data.get("format") or {}
        streams: list[dict[str, Any]] = data.get("streams") or []
    except (ValueError, AttributeError) as exc:
        raise MediaRejected("The video couldn't be read.", reason="corrupt") from exc
    container = str(fmt.get("format_name", ""))
    if container not in limits.allowed_containers:
        raise MediaRejected(
            f"This video container ({container or 'unknown'}) isn't accepted.", reason="unsupported_format"
        )
    video = next(
        (s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")),
        None,
    )
    if video is None:
        raise MediaRejected("This file has no video picture in it.", reason="no_video")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    rotation = _rotation(video)
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if rotation % 180:
        width, height = height, width
    duration = _float(fmt.get("duration")) or _float(video.get("duration"))
    return VideoInfo(
        container=container,
        duration=duration,
        width=width,
        height=height,
        fps=_rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate")),
        video_codec=str(video.get("codec_name", "unknown")),
        pix_fmt=video.get("pix_fmt"),
        audio_codec=audio.get("codec_name") if audio else None,
        audio_sample_rate=(int(_float(audio.get("sample_rate"))) or None) if audio else None,
        audio_channels=audio.get("channels") if audio else None,
        rotation=rotation,
        byte_size=int(_float(fmt.get("size"))),
    )


def _rotation(stream: dict[str, Any]) -> int:
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            return int(_float(side["rotation"])) % 360
    return int(_float((stream.get("tags") or {}).get("rotate"))) % 360


def _rate(value: Any) -> float:
    try:
        return float(Fraction(str(value)))
    except (ValueError, ZeroDivisionError):
        return 0.0


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
