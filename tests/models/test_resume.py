"""An interrupted suite resumes: finished members are kept, unfinished ones retrained."""

from __future__ import annotations

import shutil

import pytest

from dermviz.demo import PROFILES
from dermviz.models import fit
from dermviz.models.suite import Suite
from dermviz.models.training import train_suite
from dermviz.store import read_json, write_json
from tests.helpers import tiny_member


def test_resume_retrains_only_the_unfinished_member(smoke_suite, tmp_path, monkeypatch):
    folder = tmp_path / "demo-smoke"
    shutil.copytree(smoke_suite.path, folder)
    # Simulate a crash while m01 was being written: no member.json, manifest without it.
    (folder / "members" / "m01" / "member.json").unlink()
    manifest = read_json(folder / "suite.json")
    manifest["members"] = manifest["members"][:1]
    manifest["status"] = "training"
    write_json(folder / "suite.json", manifest)
    kept = (folder / "members" / "m00" / "model.keras").stat().st_mtime_ns

    # Which member is refitted, with which seed, is what is tested, not the fit: m01 is
    # refitted as a tiny stand-in, not InceptionV3 (a minute of tracing on 2 cores).
    monkeypatch.setattr(fit, "build_inception", tiny_member)
    profile = PROFILES["smoke"]
    dataset = smoke_suite.dataset()
    suite = train_suite(dataset, profile.train, out_dir=folder, progress=False)

    assert suite.complete and suite.member_ids == ["m00", "m01"]
    assert (folder / "members" / "m00" / "model.keras").stat().st_mtime_ns == kept
    assert (folder / "members" / "m01" / "member.json").is_file()
    # The retrained member is the same member: same seed, hence same split and init.
    assert Suite(folder).member("m01")["seed"] == smoke_suite.member("m01")["seed"]


def test_different_config_is_refused(smoke_suite, tmp_path):
    folder = tmp_path / "demo-smoke"
    shutil.copytree(smoke_suite.path, folder)
    changed = PROFILES["smoke"].train.replace(epochs=3)
    with pytest.raises(ValueError, match="different config"):
        train_suite(smoke_suite.dataset(), changed, out_dir=folder, progress=False)
