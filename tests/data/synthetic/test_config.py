"""Validation of the synthetic data set's parameters (dermviz.data.synthetic.config)."""

from __future__ import annotations

import pytest

from dermviz.data.synthetic import ArtefactSpec, SyntheticConfig, make_synthetic, render_lesion


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_train": -1}, "n_train"),
        ({"n_test": -2}, "n_test"),
        ({"n_test": 7}, "even"),
        ({"n_train": 2.5}, "n_train"),
        ({"difficulty": 1.5}, "difficulty"),
        ({"difficulty": -0.1}, "difficulty"),
        ({"difficulty": float("nan")}, "difficulty"),
        ({"mel_fraction": 2.0}, "mel_fraction"),
        ({"seed": -1}, "seed"),
        ({"native_size": (10, 10)}, "native_size"),
        ({"native_size": 200}, "native_size"),
        ({"artefacts_train": {"sticker": ArtefactSpec(0.5, 0.5)}}, "unknown artefact"),
        ({"artefacts_test": {"ink": (0.5, 1.5)}}, r"\[0, 1\]"),
        ({"artefacts": {"ruler": "often"}}, "ArtefactSpec"),
    ],
)
def test_bad_config_raises(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SyntheticConfig(**kwargs)
    with pytest.raises(ValueError, match=match):
        make_synthetic(**kwargs)


def test_bad_artefact_spec_and_render_args_raise() -> None:
    with pytest.raises(ValueError, match="p_mel"):
        ArtefactSpec(p_mel=-0.1)
    with pytest.raises(ValueError, match="p_nv"):
        ArtefactSpec(p_nv=1.1)
    with pytest.raises(ValueError, match="label"):
        render_lesion(seed=0, label="bcc", difficulty=0.5)
    with pytest.raises(ValueError, match="difficulty"):
        render_lesion(seed=0, label="nv", difficulty=2)
    with pytest.raises(ValueError, match="seed"):
        render_lesion(seed=-3, label="nv", difficulty=0.5)
    with pytest.raises(TypeError, match="unknown SyntheticConfig field"):
        make_synthetic(n_images=10)
