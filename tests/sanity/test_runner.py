"""The typed specs, the check registry, the runner's cache and listing (no Keras)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from dermviz.sanity import (
    ComparisonResult,
    CrossModelSpec,
    RandomizationSpec,
    ReproducibilitySpec,
    SanitySpec,
    StudyDamagedError,
    StudyInfo,
    check_kinds,
    list_studies,
    load_study,
    register_check,
    run,
    save_study,
    spec_from_dict,
    study_folder,
)
from dermviz.store import DamagedFileWarning
from tests.conftest import REPO_ROOT

IDS = ("a", "b")


def _specs() -> list[SanitySpec]:
    return [
        RandomizationSpec(member_id="m00", image_ids=IDS, method_params={"layer": "mixed5"}),
        ReproducibilitySpec(member_id="m00", image_ids=IDS, method="kernelshap",
                            method_params={"nsamples": 50, "seed": 3}, threshold=0.4),
        CrossModelSpec(member_ids=("m00", "m01", "m02"), image_ids=IDS, reference="m00",
                       thresholds={"m00": 0.4, "m01": 0.6}),
    ]


@pytest.mark.parametrize("spec", _specs(), ids=lambda s: s.kind)
def test_every_spec_round_trips_through_json(spec):
    blob = json.loads(json.dumps(spec.to_json()))
    back = spec_from_dict(blob)
    assert type(back) is type(spec) and back == spec and hash(back) == hash(spec)
    assert back.key() == spec.key() and len(spec.key()) == 16
    assert spec.folder_name() == f"{spec.kind}-{spec.key()}"
    assert spec.kind in check_kinds()


def test_spec_keys_change_with_the_design_and_checks_reject_bad_input():
    repro = _specs()[1]
    assert repro.explainer_seeds() == [3, 4]  # one KernelSHAP seed per run
    assert ReproducibilitySpec(member_id="m00", image_ids=IDS).explainer_seeds() is None
    assert ReproducibilitySpec.from_dict({**repro.to_dict(), "runs": 3}).key() != repro.key()
    with pytest.raises(ValueError, match="runs"):
        ReproducibilitySpec(member_id="m00", image_ids=IDS, runs=1)
    with pytest.raises(ValueError, match="two distinct members"):
        CrossModelSpec(member_ids=("m00", "m00"), image_ids=IDS)
    with pytest.raises(ValueError, match="reference"):
        CrossModelSpec(member_ids=("m00", "m01"), image_ids=IDS, reference="m09")
    with pytest.raises(ValueError, match="unique"):
        CrossModelSpec(member_ids=("m00", "m01"), image_ids=("a", "a"))
    with pytest.raises(KeyError, match="unknown sanity check"):
        spec_from_dict({"kind": "nope"})


# --------------------------------------------------------------------------- a toy check


@dataclass(frozen=True, eq=False, kw_only=True)
class ToySpec(SanitySpec):
    """A check that needs no model: each image's map against a shifted copy."""

    kind: ClassVar[str] = "toy_check"
    member_id: str
    image_ids: tuple[str, ...]
    shift: int = 1
    method: str = "toy"

    @property
    def members(self) -> tuple[str, ...]:
        return (self.member_id,)

    def describe(self) -> str:
        return f"shift {self.shift}"


CALLS: list[str] = []


def _toy_compute(spec: ToySpec, loaders: Any, *, progress: Any) -> ComparisonResult:
    CALLS.append(loaders.model(spec.member_id))
    images = loaders.images(list(spec.image_ids))
    maps = images.mean(-1).astype(np.float32)
    shifted = np.roll(maps, spec.shift, axis=-1)
    rows = [(spec.method, i, "pair", "map", "shifted", "ssim", float(abs(m - s).mean()))
            for i, m, s in zip(spec.image_ids, maps, shifted, strict=True)]
    table = pd.DataFrame(rows, columns=["method", "image_id", "kind", "a", "b", "measure",
                                        "value"])
    predictions = pd.DataFrame({"image_id": list(spec.image_ids), "source": "map",
                                "p_melanoma": 0.5, "target_class": 1})
    return ComparisonResult(kind=spec.kind, method=spec.method, signed=False,
                            image_ids=list(spec.image_ids), images=images,
                            maps={"map": maps, "shifted": shifted}, table=table,
                            predictions=predictions, spec=spec)


register_check(ToySpec, compute=_toy_compute, result_type=ComparisonResult)


class FakeSuite:
    """What :func:`dermviz.sanity.run` uses of a suite."""

    image_size = 8

    def __init__(self, path: Path) -> None:
        self.path = path

    def dataset(self) -> Any:
        suite = self

        class Data:
            def load_images(self, ids, size):  # noqa: ANN001, ANN202
                assert size == suite.image_size
                rng = np.random.default_rng(len(ids))
                return rng.integers(0, 255, (len(ids), size, size, 3)).astype(np.uint8)

        return Data()

    def load_model(self, member_id: str) -> str:
        return f"model {member_id}"


def test_a_registered_check_runs_caches_and_lists(tmp_path):
    suite = FakeSuite(tmp_path / "suite")
    spec = ToySpec(member_id="m00", image_ids=IDS)
    CALLS.clear()
    first = run(suite, spec, progress=False)
    assert CALLS == ["model m00"] and first.spec == spec
    folder = study_folder(suite, spec)
    assert folder == tmp_path / "suite" / "sanity" / f"toy_check-{spec.key()}"
    assert (folder / "study.json").is_file()

    again = run(suite, spec, progress=False)  # a cache hit: nothing is computed
    assert CALLS == ["model m00"]
    pd.testing.assert_frame_equal(again.table, first.table, check_dtype=False)
    np.testing.assert_array_equal(again.maps["shifted"], first.maps["shifted"])
    assert again.spec == spec

    run(suite, spec, progress=False, force=True)
    assert len(CALLS) == 2
    other = ToySpec(member_id="m01", image_ids=IDS, shift=2)
    run(suite, other, progress=False, load_model=lambda m: f"cached {m}")
    assert CALLS[-1] == "cached m01"

    (tmp_path / "suite" / "sanity" / "incomplete").mkdir()  # no study.json: skipped
    infos = list_studies(suite, kinds=["toy_check"])
    assert len(infos) == 2 and all(isinstance(i, StudyInfo) for i in infos)
    assert {i.spec for i in infos} == {spec, other}
    info = next(i for i in infos if i.spec == other)
    assert info.member == "m01" and info.n_images == 2 and not info.legacy
    assert "shift 2" in info.label and "toy" in info.label
    assert list_studies(tmp_path / "suite", kinds=["randomization"]) == []
    assert list_studies(tmp_path / "nowhere") == []
    with pytest.raises(TypeError, match="spec type"):
        run(suite, _FakeKind(), progress=False)


@pytest.mark.parametrize(("file", "damage"), [
    ("arrays.npz", "truncate"), ("table.csv", "binary"), ("predictions.csv", "delete"),
    ("study.json", "truncate"),
])
def test_a_damaged_study_is_listed_as_damaged_and_recomputed(tmp_path, file, damage):
    suite = FakeSuite(tmp_path / "suite")
    spec = ToySpec(member_id="m00", image_ids=IDS, shift=3)
    run(suite, spec, progress=False)
    folder = study_folder(suite, spec)
    path = folder / file
    if damage == "delete":
        path.unlink()
    else:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00\xff" * 50)
    with pytest.raises(StudyDamagedError, match=str(path)):
        load_study(folder)
    if file != "table.csv":  # a damaged CSV is only found by loading it
        assert list_studies(suite) == []  # the default listing leaves it out
        [info] = list_studies(suite, ["toy_check"] if file != "study.json" else ["x"],
                              include_damaged=True)
        assert info.folder == folder and file in info.damaged
        assert "delete the folder" in info.damaged
    # Running the spec again reports the damage and recomputes over it.
    CALLS.clear()
    with pytest.warns(DamagedFileWarning, match=file):
        run(suite, spec, progress=False)
    assert CALLS == ["model m00"]
    assert load_study(folder).spec == spec
    [info] = list_studies(suite, include_damaged=True)
    assert info.damaged is None


@dataclass(frozen=True, eq=False)
class _FakeKind(SanitySpec):
    kind: ClassVar[str] = "toy_check"  # a kind whose registered spec type differs


# --------------------------------------------------------------------------- old layout


def _format1(folder: Path, meta_update: dict[str, Any]) -> None:
    """Rewrite a saved study's ``study.json`` as the format before typed specs."""
    meta = json.loads((folder / "study.json").read_text())
    for key in ("spec", "key"):
        meta.pop(key)
    meta.update(format=1, **meta_update)
    (folder / "study.json").write_text(json.dumps(meta))


def test_studies_of_the_old_layout_are_read_and_listed(tmp_path):
    suite = FakeSuite(tmp_path / "suite")
    result = run(suite, ToySpec(member_id="m00", image_ids=IDS), progress=False)
    old = {
        "kind": "cross_model", "member": "m00", "members": ["m00", "m01"],
        "method": "kernelshap", "params": {"nsamples": 50, "seed": 0},
        "explainer_seeds": [0, 1], "image_ids": list(IDS),
        "similarities": ["ssim"], "thresholds": {"m00": 0.5, "m01": 0.4}, "seed": 0,
        "target": "predicted",
    }
    folder = save_study(result, tmp_path / "suite" / "sanity" / "cross_model-m00-kernelshap-x")
    _format1(folder, {"kind": "cross_model", "params": {"spec": old}})
    back = load_study(folder)
    assert back.kind == "cross_model" and isinstance(back.spec, CrossModelSpec)
    assert back.spec.member_ids == ("m00", "m01") and back.spec.reference == "m00"
    assert back.spec.explainer_seeds() == old["explainer_seeds"]
    rnd = RandomizationSpec(member_id="m00", image_ids=IDS)
    info = next(i for i in list_studies(suite) if i.folder == folder)
    assert info.legacy and info.members == ("m00", "m01") and "nsamples 50" in info.label

    # An old randomization study keeps its spec, and so its key.
    meta = json.loads((folder / "study.json").read_text())
    meta.update(kind="randomization", spec=rnd.to_dict())
    (folder / "study.json").write_text(json.dumps(meta))
    info = next(i for i in list_studies(suite, kinds=["randomization"]))
    assert info.legacy and info.spec == rnd and info.spec.key() == rnd.key()


def test_specs_tables_and_the_cli_module_import_no_keras():
    # The runner reads studies through dermviz.store, which is light once the store
    # layer no longer imports the explainers; what sanity itself imports is checked here.
    code = (
        "import sys\n"
        "import dermviz.cli.sanity, dermviz.sanity.design, dermviz.sanity.tables\n"
        "from dermviz.sanity import RandomizationSpec, CrossModelSpec, spec_from_dict\n"
        "s = CrossModelSpec(member_ids=('a', 'b'), image_ids=('x',))\n"
        "assert spec_from_dict(s.to_json()) == s\n"
        "heavy = [m for m in ('keras', 'tensorflow') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)
