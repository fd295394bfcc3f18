"""Writing benchmark results into benchmarks/RESULTS.md, one section per benchmark.

Every section starts with :func:`provenance`: the command that wrote it, when, and on which
machine (CPU model and widest vector extension: float32 results and speed differ between an
AVX-512 and an AVX2-only CPU, see docs/stack.md §5).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import re
import shlex
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
REPO = RESULTS.parents[1]

#: Vector extensions reported, widest first (names as in /proc/cpuinfo's flags).
VECTOR_FLAGS = ("avx512f", "avx2")


def cpu_line(cpuinfo: str | None = None) -> str:
    """CPU model, widest vector extension and bfloat16 arithmetic, e.g.
    ``"AMD EPYC, avx2 (no avx512f), bfloat16 emulated"``.

    Parameters
    ----------
    cpuinfo : str, optional
        Text in the format of ``/proc/cpuinfo``; read from there by default
        (:func:`dermviz.models.records.cpu_info`).
    """
    from dermviz.models.precision import native_bfloat16
    from dermviz.models.records import cpu_info

    info = cpu_info(cpuinfo)
    model = info.model if info.model != "unknown" else "unknown CPU"
    if info.flags is None:
        return f"{model}, vector extensions unknown"
    have = [f for f in VECTOR_FLAGS if f in info.flags]
    bf16 = native_bfloat16(cpuinfo)
    bf16_note = ", bfloat16: " + " and ".join(bf16) if bf16 else ", bfloat16 emulated"
    if not have:
        return f"{model}, neither {' nor '.join(VECTOR_FLAGS)}{bf16_note}"
    missing = VECTOR_FLAGS[: VECTOR_FLAGS.index(have[0])]
    return (f"{model}, {have[0]}" + (f" (no {', '.join(missing)})" if missing else "")
            + bf16_note)


def cpu_kind(flags: frozenset[str] | None = None) -> str:
    """``"AVX-512 with AMX"``, ``"AVX-512"`` or ``"AVX2 only"``: the CPU kinds whose
    TensorFlow timings differ (``flags``: this CPU's, :func:`dermviz.models.records.cpu_info`,
    by default; unknown flags count as no AVX-512). AMX (Intel Sapphire Rapids and later)
    runs oneDNN's bfloat16 convolutions in tile units, so its bfloat16 rows differ most."""
    if flags is None:
        from dermviz.models.records import cpu_info

        flags = cpu_info().flags
    flags = flags or frozenset()
    if "avx512f" not in flags:
        return "AVX2 only"
    return "AVX-512 with AMX" if "amx_bf16" in flags else "AVX-512"


def kind_tag(kind: str | None = None) -> str:
    """A suffix for a section title that keeps one section per CPU kind: empty on plain
    AVX-512 (the kind most sections were first measured on, which keep their titles),
    ``", AVX-512 with AMX"`` or ``", AVX2 only"`` elsewhere."""
    kind = cpu_kind() if kind is None else kind
    return "" if kind == "AVX-512" else f", {kind}"


def machine_line() -> str:
    """A one-line description of this machine: cores, CPU and vector extensions, RAM, Python."""
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{os.cpu_count()} vCPU ({cpu_line()}){mem}, no GPU, "
        f"Python {platform.python_version()}"
    )


def command_line(argv: list[str] | None = None) -> str:
    """The command that is running, as typed from the repository root."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    try:
        argv[0] = str(script.relative_to(REPO))
    except ValueError:
        argv[0] = script.name
    return "python " + " ".join(shlex.quote(a) for a in argv)


def provenance(argv: list[str] | None = None) -> str:
    """``Written by `<command>` on <UTC date and time> on <machine>.``"""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    try:
        load = ", load average at the end " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = ""
    return f"Written by `{command_line(argv)}` on {now} on {machine_line()}{load}."


def write_section(title: str, body: str, *, path: Path = RESULTS) -> None:
    """Replace (or append) the ``## title`` section of RESULTS.md."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text.rstrip() + "\n")


@contextlib.contextmanager
def suite_or_smoke(path: Path | None, *, prefix: str, **build: Any) -> Iterator[Path]:
    """``path``, or a fresh smoke demo suite built in a temporary folder that is removed
    afterwards (``build``: :func:`dermviz.demo.run_demo`'s options, e.g. ``explain=False``)."""
    if path is not None:
        yield path
        return
    from dermviz.demo import run_demo

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        out = Path(tmp) / "demo-smoke"
        run_demo(profile="smoke", out_dir=out, progress=False, **build)
        yield out

