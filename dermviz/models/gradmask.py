"""GradMask: penalise the input-gradient saliency of the class score outside the lesion.

Simpson et al. [1]_ regularise a classifier's saliency: besides the classification loss,
the training loss carries

.. math:: \\lambda \\cdot \\frac{1}{n} \\sum_i \\big\\| (1 - m_i) \\odot
          \\textstyle\\sum_c |\\partial z_i / \\partial x_i| \\big\\|_2^2 / (H W)

where :math:`z_i` is the member's pre-sigmoid score (the melanoma logit), :math:`x_i` the
image scaled to [0, 1], :math:`m_i` its lesion mask; the sum over :math:`c` runs over
colour channels.
A model that reads the label off something outside the lesion (a ruler, an ink mark, the
skin) has a large input gradient there and pays for it; one that reads the lesion pays
nothing. An image without a mask gets an all-ones mask and trains without the term.

The term needs a second-order gradient (the gradient of a gradient), so a GradMask step
costs about 2-3x a plain one.

References
----------
.. [1] Simpson, Dutil, Bengio & Cohen, "GradMask: Reduce overfitting by regularizing
   saliency", MIDL 2019 (arXiv:1904.07478).
"""

from __future__ import annotations

from typing import Any

#: Images come in [0, 255]; gradients are taken per unit of that whole range.
_PIXEL_RANGE = 255.0


def logit_model(model: Any) -> Any:
    """A model sharing ``model``'s weights whose outputs are ``(logit, p)``.

    The logit is taken before the final sigmoid (``pred``), not recovered from p: near
    p = 0 or 1, log(p / (1 - p)) on a clipped p has a zero gradient, and a model could
    escape the penalty by saturating.
    """
    import keras  # heavy; only training needs it

    head = model.layers[-1]
    if getattr(head, "activation", None) is not keras.activations.sigmoid:
        raise ValueError(f"the model's last layer must be a sigmoid Dense, got {head.name!r}")
    features = head.input
    logit = keras.ops.matmul(features, head.kernel) + head.bias
    return keras.Model(model.inputs, [logit, model.outputs[0]], name=f"{model.name}_logit")


def gradmask_penalty(logits: Any, images: Any, masks: Any, *, training: bool = True) -> Any:
    """The GradMask term for a batch, and the model's p(melanoma) from the same pass.

    Parameters
    ----------
    logits : keras.Model
        From :func:`logit_model`: images in [0, 255] to ``(logit, p)``.
    images : tensor, float32, (n, H, W, 3)
    masks : tensor, float32, (n, H, W)
        1 on the lesion, 0 elsewhere; all ones for an image without a mask.
    training : bool
        Passed to the model (dropout, batch statistics).

    Returns
    -------
    penalty : scalar tensor
        Mean over the batch of the squared saliency outside the mask, per pixel.
    p : tensor, (n, 1)
        The model's output, for the classification loss.
    """
    import tensorflow as tf  # heavy; only training needs it

    images = tf.convert_to_tensor(images, tf.float32)
    masks = tf.convert_to_tensor(masks, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(images)
        logit, p = logits(images, training=training)
    # Per unit of the full intensity range (x / 255), so lambda does not depend on pixel units.
    gradient = tape.gradient(logit, images) * _PIXEL_RANGE
    saliency = tf.reduce_sum(tf.abs(gradient), axis=-1)  # (n, H, W)
    outside = saliency * (1.0 - masks)
    penalty = tf.reduce_mean(tf.reduce_mean(tf.square(outside), axis=[1, 2]))
    return penalty, p


def make_gradmask_model(model: Any, *, weight: float) -> Any:
    """Wrap ``model`` so that ``fit`` adds ``weight`` times the GradMask term to the loss.

    The wrapper shares ``model``'s layers and weights (training it trains ``model``); it
    takes ``((images, masks), y[, sample_weight])`` batches and reports ``gradmask`` beside
    the loss. Compile it like ``model`` (binary cross-entropy on p(melanoma)); predict and
    save with ``model`` itself.

    Parameters
    ----------
    model : keras.Model
        The member to train.
    weight : float
        :math:`\\lambda` (> 0).
    """
    if not weight > 0:
        raise ValueError(f"the GradMask weight must be > 0, got {weight}")
    import keras  # heavy; only training needs it
    import tensorflow as tf

    class GradMaskModel(keras.Model):
        def __init__(self) -> None:
            super().__init__(name=f"{model.name}_gradmask")
            self.inner = model
            self.logits = logit_model(model)
            self.weight_ = float(weight)
            self.penalty_tracker = keras.metrics.Mean(name="gradmask")

        def call(self, inputs: Any, training: bool = False) -> Any:
            images = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
            return self.inner(images, training=training)

        def _update(self, loss: Any, y: Any, p: Any, sample_weight: Any, *,
                    training: bool) -> dict[str, Any]:
            for metric in self.metrics:
                if metric is self.penalty_tracker:
                    continue
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, p, sample_weight=sample_weight)
            logs: dict[str, Any] = {}
            for metric in self.metrics:
                if metric is self.penalty_tracker:
                    continue
                result = metric.result()  # compiled metrics come as one dict of results
                logs.update(result if isinstance(result, dict) else {metric.name: result})
            if training:
                logs["gradmask"] = self.penalty_tracker.result()
            return logs

        def train_step(self, data: Any) -> dict[str, Any]:
            (images, masks), y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            with tf.GradientTape() as tape:
                penalty, p = gradmask_penalty(self.logits, images, masks, training=True)
                loss = self.compute_loss(x=images, y=y, y_pred=p, sample_weight=sample_weight)
                total = loss + self.weight_ * penalty
            variables = self.trainable_variables
            grads = tape.gradient(total, variables)
            self.optimizer.apply_gradients(zip(grads, variables, strict=True))
            self.penalty_tracker.update_state(penalty)
            return self._update(loss, y, p, sample_weight, training=True)

        def test_step(self, data: Any) -> dict[str, Any]:
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            images = x[0] if isinstance(x, (tuple, list)) else x
            p = self.inner(images, training=False)
            loss = self.compute_loss(x=images, y=y, y_pred=p, sample_weight=sample_weight,
                                     training=False)
            return self._update(loss, y, p, sample_weight, training=False)

    return GradMaskModel()


def outside_saliency_share(model: Any, images: Any, masks: Any) -> Any:
    """Per image, the share of input-gradient saliency (|d logit / d x|) outside the mask.

    The quantity GradMask drives down; used to check that it did.
    """
    import numpy as np
    import tensorflow as tf

    logits = logit_model(model)
    images = tf.convert_to_tensor(np.asarray(images, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(images)
        logit, _ = logits(images, training=False)
    saliency = np.abs(tape.gradient(logit, images).numpy()).sum(axis=-1)
    masks = np.asarray(masks, bool)
    total = saliency.sum(axis=(1, 2))
    outside = (saliency * ~masks).sum(axis=(1, 2))
    return np.where(total > 0, outside / np.maximum(total, 1e-30), np.nan)
