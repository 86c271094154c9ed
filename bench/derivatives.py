"""Derivatives benchmark: a 24-megapixel JPEG into every preset vs one plain full decode + encode.

Generates a photo-like 6000x4000 JPEG once, then runs each measurement in its own fresh subprocess (so
ru_maxrss is that measurement's peak alone), several times with the two rows alternating, and prints one
table, then every target of issue 18 with measured / target / met columns: derive_all in at most 0.5x the
CPU time of the plain round trip, at most 0.25x its memory above the interpreter and imports, no output under
its preset's min_size, and each output's SSIM against a full-scale reference at least 0.98 (bench/_ssim.py:
the preset's crop of the fully decoded original, resized with true Lanczos to the output's size, against the
output as decoded from its JPEG bytes).
"""

from __future__ import annotations

import io
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
TIME_TARGET, MEMORY_TARGET, SSIM_TARGET = 0.5, 0.25, 0.98


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
    """One measurement in this fresh process; prints JSON (wall and CPU seconds, peak and post-import RSS)."""
    from PIL import Image

    from core.media.imaging.derive import PRESETS, derive_all

    baseline_kb = _status_kb("VmRSS")
    started, cpu_started = time.perf_counter(), time.process_time()
    if kind == "derive_all":
        out_bytes = sum(d.byte_size for d in derive_all(path, list(PRESETS.values())))
    elif kind == "plain":
        with Image.open(path) as im:
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=90)  # save() decodes the full image first
            out_bytes = buf.tell()
    else:
        raise SystemExit(f"unknown measurement {kind}")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    # ru_maxrss survives exec: a child of a fat parent inherits its high-water mark. VmHWM belongs to this
    # process image only; the two agree when the parent stayed small (which is why the photo is made in
    # a subprocess too).
    hwm_kb = _status_kb("VmHWM")
    result = {"seconds": seconds, "cpu": cpu, "peak_kb": peak_kb, "hwm_kb": hwm_kb, "baseline_kb": baseline_kb}
    print(json.dumps({**result, "out_bytes": out_bytes}))


def reference_box(width: int, height: int, ratio: float) -> tuple[float, float, float, float]:
    """The largest centred box of `ratio` (the presets' crop with the default focal point), written here
    independently of the engine so the reference does not share its arithmetic."""
    cw, ch = (height * ratio, float(height)) if width / height > ratio else (float(width), width / ratio)
    left, top = (width - cw) / 2, (height - ch) / 2
    return left, top, left + cw, top + ch


def quality(path: Path) -> None:
    """Each output's size against its preset's floor and its SSIM against a full-scale reference; prints JSON."""
    from _ssim import ssim  # bench/ is on sys.path: this file runs as a script
    from PIL import Image

    from core.media.imaging.derive import PRESETS, derive_all

    derivatives = derive_all(path, list(PRESETS.values()))
    with Image.open(path) as full:
        full.load()
        rows = []
        for d in derivatives:
            preset = PRESETS[d.preset]
            box = reference_box(full.width, full.height, preset.ratio)
            # reducing_gap=None: a true Lanczos over the whole crop, however large the scale.
            reference = full.resize((d.width, d.height), Image.Resampling.LANCZOS, box=box)
            with Image.open(io.BytesIO(d.data)) as out:
                score = ssim(out, reference)
            floor_w, floor_h = preset.floor
            rows.append(
                {
                    "preset": d.preset,
                    "size": [d.width, d.height],
                    "floor": [floor_w, floor_h],
                    "ssim": score,
                    "quality": d.quality,
                    "bytes": d.byte_size,
                }
            )
    print(json.dumps(rows))


def _run(*args: str) -> str:
    return subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True).stdout


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "cpu": statistics.median(r["cpu"] for r in runs),
        "cpu_min": min(r["cpu"] for r in runs),
        "cpu_max": max(r["cpu"] for r in runs),
        "peak_mb": statistics.median(r["peak_kb"] for r in runs) / 1024,
        "work_mb": statistics.median(r["peak_kb"] - r["baseline_kb"] for r in runs) / 1024,
        "hwm_mb": statistics.median(r["hwm_kb"] for r in runs) / 1024,
        "out_mb": runs[0]["out_bytes"] / 1e6,
    }


def measure(path: Path) -> tuple[dict[str, float], dict[str, float], list[float]]:
    """Plain and derive_all in alternating fresh subprocesses, so load from other work on the machine falls on
    both rows alike; returns each row's medians and the CPU ratio of every pair."""
    plain, derive = [], []
    for _ in range(RUNS):
        plain.append(json.loads(_run("--child", "plain", str(path))))
        derive.append(json.loads(_run("--child", "derive_all", str(path))))
    ratios = sorted(d["cpu"] / p["cpu"] for p, d in zip(plain, derive, strict=True))
    return summary(plain), summary(derive), ratios


def warm(path: Path, rounds: int = 5) -> tuple[float, float]:
    """For comparison only: both in this one warm process, alternating; the best CPU seconds of each."""
    from PIL import Image

    from core.media.imaging.derive import PRESETS, derive_all

    best = {"plain": float("inf"), "derive_all": float("inf")}
    for _ in range(rounds):
        started = time.process_time()
        with Image.open(path) as im:
            im.save(io.BytesIO(), "JPEG", quality=90)
        best["plain"] = min(best["plain"], time.process_time() - started)
        started = time.process_time()
        derive_all(path, list(PRESETS.values()))
        best["derive_all"] = min(best["derive_all"], time.process_time() - started)
    return best["plain"], best["derive_all"]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cheers-bench-") as tmp:
        photo = Path(tmp) / "24mp.jpg"
        started = time.perf_counter()
        # In a subprocess: generating it takes ~300 MB, which children forked from here would inherit
        # as their ru_maxrss.
        _run("--make", str(photo))
        made = time.perf_counter() - started
        print(
            f"source: {WIDTH}x{HEIGHT} JPEG, {photo.stat().st_size / 1e6:.1f} MB (made in {made:.1f} s); "
            f"{RUNS} fresh subprocesses per row, alternating, medians; {os.cpu_count()} CPUs"
        )
        plain, derive, ratios = measure(photo)
        outputs = json.loads(_run("--quality", str(photo)))
        warm_plain, warm_derive = warm(photo)
    rows = [("plain decode + encode q90", plain), ("derive_all, 6 presets", derive)]
    print(
        f"{'measurement':<28}{'wall s':>8}{'CPU s':>8}{'CPU range':>14}{'peak RSS MB':>13}{'above imports MB':>18}"
        f"{'output MB':>11}"
    )
    for label, r in rows:
        print(
            f"{label:<28}{r['seconds']:>8.3f}{r['cpu']:>8.3f}{r['cpu_min']:>8.3f}-{r['cpu_max']:.3f}"
            f"{r['peak_mb']:>13.1f}{r['work_mb']:>18.1f}{r['out_mb']:>11.2f}"
        )
        assert abs(r["hwm_mb"] - r["peak_mb"]) < 2, "ru_maxrss disagrees with VmHWM: an inherited high-water mark"
    print(f"{'ratio derive_all / plain':<28}{derive['seconds'] / plain['seconds']:>8.2f}", end="")
    print(f"{derive['cpu'] / plain['cpu']:>8.2f}{ratios[0]:>8.2f}-{ratios[-1]:.2f}", end="")
    print(f"{derive['peak_mb'] / plain['peak_mb']:>13.2f}{derive['work_mb'] / plain['work_mb']:>18.2f}")
    print(
        f"(CPU range: fastest-slowest run per row, and per alternating pair for the ratio. For comparison, both "
        f"alternating in this one warm process, best of 5: plain {warm_plain:.3f} s, derive_all {warm_derive:.3f} s, "
        f"ratio {warm_derive / warm_plain:.2f}.)"
    )

    cpu_ratio, work_ratio = derive["cpu"] / plain["cpu"], derive["work_mb"] / plain["work_mb"]
    targets = [
        ("CPU time, derive_all / plain", f"{cpu_ratio:.2f}", f"<= {TIME_TARGET}", cpu_ratio <= TIME_TARGET),
        ("memory above imports, ratio", f"{work_ratio:.2f}", f"<= {MEMORY_TARGET}", work_ratio <= MEMORY_TARGET),
    ]
    for o in outputs:
        (w, h), (floor_w, floor_h) = o["size"], o["floor"]
        targets.append((f"size {o['preset']}", f"{w}x{h}", f">= {floor_w}x{floor_h}", w >= floor_w and h >= floor_h))
    for o in outputs:
        targets.append((f"SSIM {o['preset']}", f"{o['ssim']:.4f}", f">= {SSIM_TARGET}", o["ssim"] >= SSIM_TARGET))
    print()
    print(f"{'target (issue 18)':<32}{'measured':>11}{'target':>14}  met")
    for label, value, target, ok in targets:
        print(f"{label:<32}{value:>11}{target:>14}  {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--make":
        make_photo(Path(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--quality":
        quality(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]))
    else:
        main()
