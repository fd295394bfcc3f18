"""Model suites: InceptionV3 members, training, search, saving and loading.

One training path: :func:`dermviz.models.fit.fit_member` fits a member for both
``dermviz train`` (:mod:`~dermviz.models.training`, each member once, in process)
and every search trial (:mod:`~dermviz.models.search`, one process per trial).
Around it: :mod:`~.config` (options), :mod:`~.profiles` (ready-made settings),
:mod:`~.seeds`, :mod:`~.workspace` (splits as rows of the image caches),
:mod:`~.image_cache`, :mod:`~.pipeline` (``tf.data``), :mod:`~.device`,
:mod:`~.metrics`, :mod:`~.records` (member records, manifest) and
:mod:`~.suite` (reading a suite).
"""
