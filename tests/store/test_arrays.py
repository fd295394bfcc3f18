"""The generic keyed array store and atomic writes."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

from dermviz.store import ArrayRecord, ArrayStore, DamagedFileWarning, params_key, write_atomic


def record(seed: int = 0) -> ArrayRecord:
    rng = np.random.default_rng(seed)
    return ArrayRecord(
        arrays={"a": rng.random((4, 3), dtype=np.float32), "label": np.int64(seed)},
        meta={"name": "x", "grid": [2, 2], "notes": ["n"]},
    )


def test_put_get_round_trip_and_layout(tmp_path):
    store = ArrayStore(tmp_path)
    rec = record()
    store.put(("m00", "gradcam", "abc", "img1"), rec)
    assert (tmp_path / "m00" / "gradcam" / "abc" / "img1.npz").is_file()
    hit = store.get(("m00", "gradcam", "abc", "img1"))
    assert hit is not None
    np.testing.assert_array_equal(hit.arrays["a"], rec.arrays["a"])
    assert hit.arrays["a"].dtype == np.float32 and int(hit.arrays["label"]) == 0
    assert set(hit.arrays) == {"a", "label"} and hit.meta == rec.meta


def test_missing_key_is_none_and_put_replaces(tmp_path):
    store = ArrayStore(tmp_path)
    assert store.get(("nothing",)) is None
    store.put(("k",), record(0))
    store.put(("k",), record(1))
    assert int(store.get(("k",)).arrays["label"]) == 1


def test_params_key_ignores_order_and_separates_values():
    assert params_key({"a": 1, "b": 2}) == params_key({"b": 2, "a": 1})
    assert params_key({"a": 1}) != params_key({"a": 2})
    assert len(params_key({})) == 12


@pytest.mark.parametrize("key", [("../x", "a"), ("a", ".."), ("a/b",), (), "abc", ("ok", 3)])
def test_unsafe_keys_are_refused(tmp_path, key):
    with pytest.raises(ValueError, match="key"):
        ArrayStore(tmp_path).path(key)


def test_meta_name_is_reserved(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        ArrayStore(tmp_path).put(("k",), ArrayRecord(arrays={"meta": np.zeros(1)}))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_damaged_entry_is_a_reported_miss(tmp_path, damage):
    store = ArrayStore(tmp_path)
    store.put(("k",), record())
    path = store.path(("k",))
    data = path.read_bytes()
    path.write_bytes({"garbage": b"not an npz", "truncated": data[: len(data) // 2],
                      "empty": b""}[damage])
    with pytest.warns(DamagedFileWarning, match=re.escape(str(path))):
        assert store.get(("k",)) is None
    store.put(("k",), record())  # recomputed: overwritten in place
    assert store.get(("k",)) is not None


def test_failed_write_leaves_old_file_and_no_temporaries(tmp_path):
    target = tmp_path / "f.bin"
    write_atomic(target, lambda fh: fh.write(b"old"))

    def crash(fh):
        fh.write(b"half")
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_atomic(target, crash)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


_WRITER = """
import sys
import numpy as np
from dermviz.store import ArrayRecord, ArrayStore
root, seed = sys.argv[1], int(sys.argv[2])
store = ArrayStore(root)
for rnd in range(15):
    for k in range(8):
        arr = np.full((64, 64), seed * 1000 + rnd, dtype=np.float32)
        store.put(("m00", "gradcam", f"img{k}"), ArrayRecord({"map": arr}, {"seed": seed}))
"""


def test_two_processes_writing_the_same_keys_leave_no_corrupt_entry(tmp_path):
    """Two writers (as two precompute runs on one store) race on the same keys; every
    entry that remains loads whole, holding one writer's record, and no temporary is left."""
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), str(seed)],
                              stderr=subprocess.PIPE) for seed in (1, 2)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    store = ArrayStore(tmp_path)
    for k in range(8):
        with warnings.catch_warnings():
            warnings.simplefilter("error", DamagedFileWarning)
            hit = store.get(("m00", "gradcam", f"img{k}"))
        assert hit is not None
        seed = hit.meta["seed"]
        assert seed in (1, 2)
        # Arrays and meta come from the same write: never a mix of the two writers.
        assert np.all(hit.arrays["map"] // 1000 == seed)
    leftovers = [p.name for p in (tmp_path / "m00" / "gradcam").iterdir()
                 if not p.name.endswith(".npz")]
    assert leftovers == []
