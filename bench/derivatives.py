"""Derivatives benchmark: a 24-megapixel JPEG into every preset vs one plain full decode + encode.

Generates a photo-like 6000x4000 JPEG once, then runs each measurement in its own fresh subprocess (so
ru_maxrss is that measurement's peak alone), several times, and prints one table with the ratios against
the targets in issue 4: derive_all <= 0.5x the time and <= 0.3x the memory of the plain round trip.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = int(os.environ.get("CHEERS_BENCH_RUNS", "3"))
WIDTH, HEIGHT = 6000, 4000
TIME_TARGET, MEMORY_TARGET = 0.5, 0.3


def make_photo(path: Path) -> None:
    """Gradients with per-channel noise: entropy close to a real photo (about 1 byte per pixel at q90)."""
    from PIL import Image, ImageChops, ImageFilter

    size = (WIDTH, HEIGHT)
    bases = (
        Image.linear_gradient("L").resize(size),
        Image.radial_gradient("L").resize(size),
        Image.linear_gradient("L").rotate(90).resize(size),
    )
    channels = []
    for base in bases:
        # Fine grain plus blurred blotches: sensor noise and texture, not white noise a JPEG can't compress.
        grain = Image.effect_noise(size, 10)
        texture = Image.effect_noise((WIDTH // 8, HEIGHT // 8), 60).resize(size).filter(ImageFilter.GaussianBlur(3))
        channels.append(ImageChops.add(ImageChops.add(base, grain, 1.0, -128), texture, 1.0, -128))
    Image.merge("RGB", channels).save(path, "JPEG", quality=92)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))


def child(kind: str, path: Path) -> None:
    """One measurement in this fresh process; prints JSON (seconds, peak and post-import RSS in KiB)."""
    import io

    from PIL import Image

    from core.media.imaging.derive import PRESETS, ImageLimits, derive_all

    baseline_kb = _status_kb("VmRSS")
    started = time.perf_counter()
    if kind in ("derive_all", "derive_all_baseline_jpeg"):
        limits = ImageLimits(progressive=kind == "derive_all")
        out_bytes = sum(d.byte_size for d in derive_all(path, list(PRESETS.values()), limits=limits))
    elif kind == "plain":
        with Image.open(path) as im:
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=90)  # save() decodes the full image first
            out_bytes = buf.tell()
    else:
        raise SystemExit(f"unknown measurement {kind}")
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    # ru_maxrss survives exec: a child of a fat parent inherits its high-water mark. VmHWM belongs to this
    # process image only; the two agree when the parent stayed small (which is why the photo is made in
    # a subprocess too).
    hwm_kb = _status_kb("VmHWM")
    result = {"seconds": seconds, "peak_kb": peak_kb, "hwm_kb": hwm_kb, "baseline_kb": baseline_kb}
    print(json.dumps({**result, "out_bytes": out_bytes}))


def measure(kind: str, path: Path) -> dict[str, float]:
    runs = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, __file__, "--child", kind, str(path)], check=True, capture_output=True, text=True
        ).stdout
        runs.append(json.loads(out))
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak_mb": statistics.median(r["peak_kb"] for r in runs) / 1024,
        "work_mb": statistics.median(r["peak_kb"] - r["baseline_kb"] for r in runs) / 1024,
        "hwm_mb": statistics.median(r["hwm_kb"] for r in runs) / 1024,
        "out_mb": runs[0]["out_bytes"] / 1e6,
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cheers-bench-") as tmp:
        photo = Path(tmp) / "24mp.jpg"
        started = time.perf_counter()
        # In a subprocess: generating it takes ~300 MB, which children forked from here would inherit
        # as their ru_maxrss.
        subprocess.run([sys.executable, __file__, "--make", str(photo)], check=True)
        made = time.perf_counter() - started
        print(
            f"source: {WIDTH}x{HEIGHT} JPEG, {photo.stat().st_size / 1e6:.1f} MB (made in {made:.1f} s); "
            f"{RUNS} fresh subprocesses per row, medians; {os.cpu_count()} CPUs"
        )
        plain = measure("plain", photo)
        derive = measure("derive_all", photo)
        baseline_jpeg = measure("derive_all_baseline_jpeg", photo)
    rows = [
        ("plain decode + encode q90", plain),
        ("derive_all, 6 presets", derive),
        ("  same, progressive=False", baseline_jpeg),
    ]
    print(f"{'measurement':<28}{'wall s':>9}{'peak RSS MB':>13}{'above imports MB':>18}{'output MB':>11}")
    for label, r in rows:
        print(f"{label:<28}{r['seconds']:>9.3f}{r['peak_mb']:>13.1f}{r['work_mb']:>18.1f}{r['out_mb']:>11.2f}")
        assert abs(r["hwm_mb"] - r["peak_mb"]) < 2, "ru_maxrss disagrees with VmHWM: an inherited high-water mark"
    time_ratio = derive["seconds"] / plain["seconds"]
    peak_ratio = derive["peak_mb"] / plain["peak_mb"]
    work_ratio = derive["work_mb"] / plain["work_mb"]

    def verdict(value: float, target: float) -> str:
        return "meets" if value <= target else "misses"

    print(f"{'ratio derive_all / plain':<28}{time_ratio:>9.2f}{peak_ratio:>13.2f}{work_ratio:>18.2f}")
    print(
        f"targets: time <= {TIME_TARGET}x ({verdict(time_ratio, TIME_TARGET)}), "
        f"memory <= {MEMORY_TARGET}x ({verdict(peak_ratio, MEMORY_TARGET)} on peak RSS, "
        f"{verdict(work_ratio, MEMORY_TARGET)} above the interpreter + imports baseline)"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--make":
        make_photo(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]))
    else:
        main()
