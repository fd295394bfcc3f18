"""Methods own their knowledge: names, suite defaults, options and chunking come from the class.

No model, no TensorFlow: a stand-in suite carries only a configuration.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from dermviz.cli import build_parser, main
from dermviz.explain import GradCAM, KernelSHAP, available_methods, get_explainer
from dermviz.explain import base as explain_base
from dermviz.explain.base import Explainer
from dermviz.explain.precompute import default_params, images_per_task
from dermviz.models.blocks import DEFAULT_TARGET_LAYER


def fake_suite(**config: Any) -> SimpleNamespace:
    return SimpleNamespace(config=config)


class Blur(Explainer):
    """A stand-in method with its own suite default, user option and chunking."""

    name = "blur"
    display_name = "Blur"
    images_per_task = 3
    user_options = {"radius": "blur radius in pixels"}

    def __init__(self, model: Any, *, radius: float = 1.5, size: int = 8) -> None:
        super().__init__(model, radius=radius, size=size)

    @classmethod
    def suite_defaults(cls, suite: Any) -> dict[str, Any]:
        return {"size": suite.config["image_size"]}


@pytest.fixture
def blur(monkeypatch):
    """Blur in the registry for one test only."""
    monkeypatch.setitem(explain_base._REGISTRY, Blur.name, Blur)
    return Blur


def test_registry_lists_methods_with_display_names():
    assert {"gradcam", "kernelshap"} <= set(available_methods())
    assert get_explainer("gradcam") is GradCAM and GradCAM.display_name == "GradCAM"
    assert KernelSHAP.display_name == "KernelSHAP" and KernelSHAP.signed and not GradCAM.signed
    with pytest.raises(KeyError, match="unknown saliency method 'lime'"):
        get_explainer("lime")


def test_gradcam_layer_comes_from_the_suite_then_the_paper():
    assert GradCAM.suite_defaults(fake_suite(gradcam_layer="mixed5")) == {"layer": "mixed5"}
    assert GradCAM.suite_defaults(fake_suite()) == {"layer": DEFAULT_TARGET_LAYER}
    assert default_params(fake_suite(gradcam_layer="mixed5"), "gradcam") == {"layer": "mixed5"}
    assert default_params(fake_suite(gradcam_layer="mixed5"), "gradcam", layer="mixed2") == {
        "layer": "mixed2"
    }


def test_kernelshap_defaults_are_the_papers_and_chunk_one_image():
    params = default_params(fake_suite(gradcam_layer="mixed5"), "kernelshap")
    assert params["nsamples"] == KernelSHAP.PAPER_NSAMPLES
    assert params["n_segments"] == 100 and "layer" not in params
    assert images_per_task("kernelshap", 32) == 1
    assert images_per_task("gradcam", 32) == 32


def test_default_params_delegates_to_any_registered_class(blur):
    suite = fake_suite(image_size=96)
    assert default_params(suite, "blur") == {"radius": 1.5, "size": 96}
    assert default_params(suite, "blur", radius=3.0) == {"radius": 3.0, "size": 96}
    assert images_per_task("blur", 32) == 3
    with pytest.raises(TypeError, match="unknown parameter"):
        default_params(suite, "blur", layer="mixed7")


def test_cli_method_options_come_from_the_registry(blur, tmp_path, capsys):
    parser = build_parser()
    args = parser.parse_args(["explain", "--suite", "s", "--method", "blur", "--radius", "2.5"])
    assert args.method_option_radius == 2.5  # typed like the default
    explain_help = parser._subparsers._group_actions[0].choices["explain"].format_help()
    assert "blur only: blur radius in pixels" in explain_help and "blur (Blur)" in explain_help
    assert "--nsamples" in explain_help and "--layer" in explain_help
    # an option its canonical parameters leave out at the default is still typed and offered
    args = parser.parse_args(["explain", "--suite", "s", "--method", "kernelshap",
                              "--sampler", "leverage"])
    assert args.method_option_sampler == "leverage" and "--sampler" in explain_help
    code = main(["--models-dir", str(tmp_path), "explain", "--suite", "s", "--method",
                 "gradcam", "--radius", "2"])
    assert code == 2
    assert "--radius applies to --method blur only, not gradcam" in capsys.readouterr().err


def test_register_checks_what_pages_and_the_cli_rely_on(monkeypatch):
    monkeypatch.setattr(explain_base, "_REGISTRY", dict(explain_base._REGISTRY))

    class Nameless(Blur):
        name = "nameless"
        display_name = ""

    class BadOption(Blur):
        name = "bad_option"
        user_options = {"sigma": "not a parameter of Blur"}

    with pytest.raises(TypeError, match="display_name"):
        explain_base.register(Nameless)
    with pytest.raises(TypeError, match=r"user options \['sigma'\]"):
        explain_base.register(BadOption)
    with pytest.raises(ValueError, match="already registered"):
        explain_base.register(type("GradCAM2", (Blur,), {"name": "gradcam"}))
    assert explain_base.register(Blur) is Blur and get_explainer("blur") is Blur
