"""Video probe and transcode against clips ffmpeg generates (lavfi testsrc); skipped without ffmpeg."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.media.errors import MediaRejected, VideoToolsMissing
from core.media.video.tools import ffmpeg_available
from core.media.video.transcode import VideoLimits, _clamp_fps, _target_size, probe, transcode

needs_ffmpeg = pytest.mark.skipif(
    not ffmpeg_available(), reason="ffmpeg/ffprobe not installed (apt-get install ffmpeg; .ci/run installs it)"
)
ROOT = Path(__file__).resolve().parents[2]


def make_clip(path: Path, *, seconds: float, size: str = "640x360", rate: int = 30, audio: bool = True) -> Path:
    """A real clip: colour bars + a 440 Hz tone at 96 kHz, yuv444p and a GPS location tag, so the transcode
    has something to fix (pixel format, sample rate) and something to strip (location)."""
    cmd = ["ffmpeg", "-hide_banner", "-v", "error", "-y"]
    cmd += ["-f", "lavfi", "-i", f"testsrc=duration={seconds}:size={size}:rate={rate}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}:sample_rate=96000", "-c:a", "aac"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"]
    cmd += ["-metadata", "location=+51.5074-000.1278/", "-shortest", str(path)]
    subprocess.run(cmd, check=True)
    return path


def ffprobe_json(path: Path) -> dict[str, object]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        check=True,
        capture_output=True,
    ).stdout
    result: dict[str, object] = json.loads(out)
    return result


def top_level_atoms(path: Path) -> list[bytes]:
    data, atoms, pos = path.read_bytes(), [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        atoms.append(data[pos + 4 : pos + 8])
        if size < 8:
            break
        pos += size
    return atoms


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not ffmpeg_available():
        pytest.skip("ffmpeg/ffprobe not installed (apt-get install ffmpeg; .ci/run installs it)")
    return make_clip(tmp_path_factory.mktemp("video") / "pub-quiz.mov", seconds=4)


@pytest.fixture
def avi_named_mp4(tmp_path: Path) -> Path:
    avi = tmp_path / "clip.avi"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=4:size=320x240", "-c:v", "mpeg4", str(avi)],
        check=True,
    )
    return Path(shutil.copy(avi, tmp_path / "clip.mp4"))


@pytest.fixture
def damaged(clip: Path, tmp_path: Path) -> Path:
    path = tmp_path / "damaged.mp4"
    path.write_bytes(clip.read_bytes()[:64] + b"\x00" * 2000)
    return path


@needs_ffmpeg
async def test_four_second_clip_becomes_h264_aac_mp4_with_a_poster(clip: Path, tmp_path: Path) -> None:
    info = await probe(clip)
    assert (info.width, info.height, info.video_codec, info.pix_fmt) == (640, 360, "h264", "yuv444p")
    assert info.audio_sample_rate == 96000 and 3.9 < info.duration < 4.2
    out = await transcode(clip, tmp_path / "out")
    assert out.path == tmp_path / "out" / "video.mp4" and out.poster_path == tmp_path / "out" / "poster.jpg"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["poster.jpg", "video.mp4"]
    assert out.info.video_codec == "h264" and out.info.pix_fmt == "yuv420p" and out.info.audio_codec == "aac"
    assert out.info.audio_sample_rate == 48000 and out.info.fps == 30.0
    assert (out.info.width, out.info.height) == (640, 360) and out.byte_size == out.path.stat().st_size
    atoms = top_level_atoms(out.path)
    assert atoms.index(b"moov") < atoms.index(b"mdat"), "faststart: moov before the media data"
    probed = ffprobe_json(out.path)
    fmt = probed["format"]
    assert isinstance(fmt, dict) and "mp4" in str(fmt.get("tags", {}).get("major_brand", "")) + fmt["format_name"]
    assert "51.5074" not in json.dumps(probed), "GPS location must not survive"
    assert "location" not in fmt.get("tags", {})
    from PIL import Image

    with Image.open(out.poster_path) as poster:
        assert poster.format == "JPEG" and poster.size == (640, 360)


@needs_ffmpeg
async def test_tall_low_frame_rate_silent_video_is_scaled_and_clamped(tmp_path: Path) -> None:
    # Narrow but 2400 tall, so the long-side cap bites without encoding many pixels.
    source = make_clip(tmp_path / "tall.mp4", seconds=3.5, size="360x2400", rate=15, audio=False)
    out = await transcode(source, tmp_path / "out")
    assert (out.info.width, out.info.height) == (288, 1920)
    assert out.info.fps == 23.0 and out.info.audio_codec is None


@pytest.fixture
def phone_portrait(tmp_path: Path) -> Path:
    """Landscape pixels with a 90 degree display matrix, the way phones record portrait video."""
    if not ffmpeg_available():
        pytest.skip("ffmpeg/ffprobe not installed (apt-get install ffmpeg; .ci/run installs it)")
    landscape = make_clip(tmp_path / "landscape.mp4", seconds=3.5, size="320x180", audio=False)
    rotated = tmp_path / "portrait.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(landscape), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated)],
        check=True,
    )
    return rotated


@needs_ffmpeg
async def test_phone_rotation_is_applied(phone_portrait: Path, tmp_path: Path) -> None:
    info = await probe(phone_portrait)
    assert (info.width, info.height, info.rotation) == (180, 320, 90)
    out = await transcode(phone_portrait, tmp_path / "out")
    assert (out.info.width, out.info.height, out.info.rotation) == (180, 320, 0)


@needs_ffmpeg
async def test_one_second_clip_is_too_short(tmp_path: Path) -> None:
    short = make_clip(tmp_path / "short.mp4", seconds=1)
    with pytest.raises(MediaRejected) as caught:
        await transcode(short, tmp_path / "out")
    assert caught.value.reason == "too_short"
    assert caught.value.message == "This video is 1.0 s long; Instagram Reels need at least 3 s."
    assert not (tmp_path / "out").exists()


@needs_ffmpeg
async def test_too_long_or_too_large_a_frame_for_the_configured_limits(clip: Path, tmp_path: Path) -> None:
    with pytest.raises(MediaRejected) as caught:
        await transcode(clip, tmp_path / "out", VideoLimits(max_duration=2.0))
    assert caught.value.reason == "too_long"
    with pytest.raises(MediaRejected) as caught:
        await transcode(clip, tmp_path / "out", VideoLimits(max_frame_pixels=640 * 359))
    assert caught.value.reason == "too_many_pixels"


@needs_ffmpeg
async def test_container_outside_the_allow_list_is_refused(avi_named_mp4: Path, tmp_path: Path) -> None:
    disguised = avi_named_mp4
    with pytest.raises(MediaRejected) as caught:
        await transcode(disguised, tmp_path / "out")
    assert caught.value.reason == "unsupported_format"
    assert caught.value.message.startswith("It is AVI, which we don't accept")


@needs_ffmpeg
async def test_playlist_pretending_to_be_a_video_is_refused(tmp_path: Path) -> None:
    # An HLS playlist can make ffmpeg fetch URLs or read other local files: it never reaches ffmpeg.
    playlist = tmp_path / "clip.mp4"
    playlist.write_text("#EXTM3U\n#EXTINF:4,\nhttp://169.254.169.254/latest/meta-data\n")
    with pytest.raises(MediaRejected) as caught:
        await probe(playlist)
    assert caught.value.reason == "unsupported_format" and "HLS playlist" in caught.value.message


@needs_ffmpeg
async def test_damaged_mp4_is_rejected(damaged: Path, tmp_path: Path) -> None:
    with pytest.raises(MediaRejected) as caught:
        await transcode(damaged, tmp_path / "out")
    assert caught.value.reason == "corrupt"


@needs_ffmpeg
async def test_wall_clock_limit_stops_the_transcode_and_leaves_nothing(clip: Path, tmp_path: Path) -> None:
    limits = VideoLimits(transcode_timeout_base=0.05, transcode_timeout_per_second=0.0)
    with pytest.raises(MediaRejected) as caught:
        await transcode(clip, tmp_path / "out", limits)
    assert caught.value.reason == "timeout" and "took longer than" in caught.value.message
    assert list((tmp_path / "out").iterdir()) == []


@needs_ffmpeg
async def test_output_over_the_size_limit_is_rejected(clip: Path, tmp_path: Path) -> None:
    with pytest.raises(MediaRejected) as caught:
        await transcode(clip, tmp_path / "out", VideoLimits(max_output_bytes=5_000))
    assert caught.value.reason == "too_large"
    assert list((tmp_path / "out").iterdir()) == []


async def test_hidden_ffmpeg_raises_video_tools_missing(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    assert ffmpeg_available(str(empty)) is False
    for call in (probe(video, tools_path=str(empty)), transcode(video, tmp_path / "out", tools_path=str(empty))):
        with pytest.raises(VideoToolsMissing) as caught:
            await call
        assert caught.value.reason == "ffmpeg_missing" and "not installed" in caught.value.message


def test_hidden_ffmpeg_on_path_is_detected(tmp_path: Path) -> None:
    # The same check as a worker started with a PATH that has no ffmpeg on it.
    code = "from core.media.video.tools import ffmpeg_available; print(ffmpeg_available())"
    env = {**os.environ, "PATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_frame_size_fits_the_long_side_with_even_dimensions() -> None:
    assert _target_size(3840, 2160, 1920) == (1920, 1080)
    assert _target_size(2160, 3840, 1920) == (1080, 1920)
    assert _target_size(1281, 721, 1920) == (1280, 720)
    assert _target_size(640, 360, 1920) == (640, 360)


def test_frame_rate_is_clamped_to_23_to_60() -> None:
    limits = VideoLimits()
    assert _clamp_fps(15.0, limits) == "23"
    assert _clamp_fps(120.0, limits) == "60"
    assert _clamp_fps(30000 / 1001, limits) == "30000/1001"
    assert _clamp_fps(0.0, limits) == "30"
