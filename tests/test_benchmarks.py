"""The benchmark result writers: machine description, sections, start-up labels side by side."""

from __future__ import annotations

from pathlib import Path

from benchmarks import bench_startup
from benchmarks.results import command_line, cpu_line, provenance, write_section

INTEL = "model name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu avx avx2 avx512f\n"
AMD = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx avx2\n\nprocessor\t: 1\n"


def test_cpu_line_names_the_widest_vector_extension():
    assert cpu_line(INTEL) == "Intel(R) Xeon(R) Processor, avx512f"
    assert cpu_line(AMD) == "AMD EPYC, avx2 (no avx512f)"
    assert cpu_line("model name\t: Old\nflags\t\t: fpu sse2\n") == "Old, neither avx512f nor avx2"
    assert cpu_line("").endswith("vector extensions unknown")


def test_provenance_has_command_date_and_machine():
    repo = Path(__file__).resolve().parents[1]
    argv = [str(repo / "benchmarks" / "bench_demo.py"), "--profile", "smoke"]
    assert command_line(argv) == "python benchmarks/bench_demo.py --profile smoke"
    line = provenance(argv)
    assert line.startswith("Written by `python benchmarks/bench_demo.py --profile smoke` on 20")
    assert " UTC on " in line and "vCPU (" in line and "Python " in line


def test_write_section_replaces_only_its_own_section(tmp_path):
    path = tmp_path / "RESULTS.md"
    write_section("A", "first a", path=path)
    write_section("B", "only b", path=path)
    write_section("A", r"second a with a backslash \1 and \n", path=path)
    text = path.read_text()
    assert text.count("## A") == 1 and "first a" not in text
    assert r"second a with a backslash \1 and \n" in text
    assert text.index("## A") < text.index("## B") and "only b" in text


def test_startup_labels_are_kept_side_by_side(tmp_path):
    path = tmp_path / "RESULTS.md"
    result = {"times": [0.5, 0.4, 0.6], "median": 0.5, "heavy": []}
    data = {"before": {"provenance": "Written by x.", "repeats": 3, "suite": "s",
                       "results": {"dermviz --help": {**result, "heavy": ["tensorflow"]}}}}
    write_section(bench_startup.TITLE, bench_startup.render(data), path=path)
    data = bench_startup.read_data(path)
    data["after"] = {"provenance": "Written by y.", "repeats": 3, "suite": "s",
                     "results": {"dermviz --help": result}}
    write_section(bench_startup.TITLE, bench_startup.render(data), path=path)
    text = path.read_text()
    assert bench_startup.read_data(path) == data
    row = next(line for line in text.splitlines() if line.startswith("| `dermviz --help`"))
    assert row == "| `dermviz --help` | 0.50 | 0.40-0.60 | tensorflow | 0.50 | 0.40-0.60 | no |"
