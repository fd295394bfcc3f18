"""Ready-made data and training settings shared by ``dermviz demo`` and ``dermviz search``.

``smoke``
    Seconds, not minutes: 75 px, 48 synthetic training images, two members, one
    epoch. What the tests use; its numbers mean nothing. Drawn in the evidence mode
    (docs/evidence-benchmark.md), so every page's evidence view is exercised.
``default``
    The evidence mode with its coarse families (a blue-whitish veil or an irregular
    blotch against their round look-alikes, ``docs/evidence-benchmark.md``), so every
    map can be checked against where the class really is. Structures at 90% strength
    (difficulty 0.2). 96 px, three members, 600 training images, eight epochs (120
    steps) with a cosine learning-rate decay, the training step compiled with XLA.
    BatchNorm momentum 0.9: from scratch with ~100 steps, Keras' 0.99 leaves the
    inference statistics unconverged. GradCAM on ``mixed2``, a 9x9 grid at 96 px: on
    this demo ``mixed7`` (4x4) put 1.3x chance of its mass on the evidence and ``mixed2``
    3.3x (``benchmarks/RESULTS.md``, "Evidence leaderboard").
    Time, AUC and the members' use of the evidence: ``benchmarks/RESULTS.md``, "Demo
    suite". Why eight epochs: on the profile's seeds five are the least that reach a mean
    AUC of 0.95 and an evidence drop of 0.4 (0.953 and 0.488; four give 0.865 and 0.19),
    which leaves no margin for other seeds or CPUs ("Demo training budget").

:func:`probe_profile` gives the spurious-correlation probe's suites (``dermviz probe``):
the same sizes, with an artefact (an ink mark by default, or a ruler) on every training
melanoma and no training naevus (or, for the control, on half of each class), and on half
of each class in the hold-out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dermviz.data.synthetic import ARTEFACT_NAMES, ArtefactSpec, SyntheticConfig
from dermviz.data.synthetic.structures import COARSE_FAMILIES
from dermviz.models.config import TrainConfig


@dataclass(frozen=True)
class TrainProfile:
    """Synthetic data, the training config and the XLA switch of a ready-made suite.

    ``xla`` ("auto", "on" or "off"; :func:`dermviz.models.device.configure_device`):
    "on" compiles the training step with XLA on a CPU too. It pays off over a few
    hundred steps (``benchmarks/RESULTS.md``, "Demo suite"), not for a smoke run.
    """

    data: SyntheticConfig
    train: TrainConfig
    xla: str = "auto"


PROFILES: dict[str, TrainProfile] = {
    "smoke": TrainProfile(
        data=SyntheticConfig(n_train=48, n_test=16, seed=0, evidence=True),
        train=TrainConfig(
            image_size=75, n_members=2, epochs=1, batch_size=16, bn_momentum=0.9,
            gradcam_layer="mixed2",
        ),
    ),
    "default": TrainProfile(
        data=SyntheticConfig(n_train=600, n_test=200, seed=0, difficulty=0.2, evidence=True,
                             evidence_families=COARSE_FAMILIES),
        train=TrainConfig(
            image_size=96, n_members=3, epochs=8, batch_size=32, bn_momentum=0.9,
            lr_schedule="cosine", gradcam_layer="mixed2",
        ),
        xla="on",
    ),
}

#: The probe's training at ``size="default"``: 128 px and six epochs, where ``mixed2``
#: has a 13x13 grid to tell a thin artefact from the lesion (docs/probe.md's results).
PROBE_DEFAULT_TRAIN = PROFILES["default"].train.replace(
    image_size=128, epochs=6, lr_schedule="constant", gradcam_layer="mixed7")


#: The probe's default artefact: a purple/blue ink mark (a circle or pen dots) near the
#: lesion, about 5% of the image. ``"ruler"`` (a scale strip along one edge, 6-10% of the
#: image) is the other choice.
PROBE_ARTEFACT = "ink"

#: A finer GradCAM layer the probe also maps: at 128 px ``mixed2`` has a 13x13 grid where
#: the default suite layer ``mixed7`` has 6x6, too coarse to tell a ruler strip or an ink
#: ring from the lesion beside it.
PROBE_FINE_LAYER = "mixed2"

#: Sizes of the probe: the smoke and default profiles' data and training, two members.
PROBE_SIZES = ("smoke", "default")


def probe_profile(*, size: str = "default", correlated: bool = True,
                  gradmask: float | None = None, artefact: str = PROBE_ARTEFACT) -> TrainProfile:
    """The data and training of a spurious-correlation probe suite.

    Parameters
    ----------
    size : {"smoke", "default"}
        The ``smoke`` or ``default`` profile's data, with two members; ``default``
        trains as :data:`PROBE_DEFAULT_TRAIN` says (128 px, six epochs).
    correlated : bool
        True: every training melanoma carries the artefact and no training naevus does,
        so the artefact alone separates the training classes. False (the control): half
        of each class carries it. Either way half of each hold-out class carries it, so
        there the artefact says nothing about the label.
    gradmask : float, optional
        GradMask weight (``TrainConfig.gradmask``); None trains plainly.
    artefact : {"ink", "ruler"}
        The spurious artefact (:data:`dermviz.data.synthetic.ARTEFACT_NAMES`).

    Returns
    -------
    TrainProfile
    """
    if size not in PROBE_SIZES:
        raise ValueError(f"size must be one of {list(PROBE_SIZES)}, got {size!r}")
    if artefact not in ARTEFACT_NAMES:
        raise ValueError(f"artefact must be one of {list(ARTEFACT_NAMES)}, got {artefact!r}")
    base = PROFILES[size]
    train = ArtefactSpec(1.0, 0.0) if correlated else ArtefactSpec(0.5, 0.5)
    # The probe's question is the artefact alone: its lesions carry no evidence structures.
    # (difficulty 0.5, as before the default demo moved to the evidence mode)
    data = replace(base.data, evidence=False, difficulty=0.5, artefacts_train={artefact: train},
                   artefacts_test={artefact: ArtefactSpec(0.5, 0.5)})
    fit = PROBE_DEFAULT_TRAIN if size == "default" else base.train
    return replace(base, data=data, train=fit.replace(n_members=2, gradmask=gradmask))
