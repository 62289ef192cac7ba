"""A trained network's features: the feature file, its analysis, and analyses kept in a results directory.

* :mod:`.file` — the ``.npz`` format (samples as rows, one array per layer,
  optional classifiers and checkpoints): :func:`read` validates one,
  :func:`save` writes one, :func:`export` writes a dufm point's;
* :mod:`.analysis` — :func:`analyse_features`: NC metrics, spectra and the
  solution type of every layer (and checkpoint), streamed in chunks;
* :mod:`.records` — :func:`store` / :func:`load` analyses in a results
  directory (``dufm analyse --out DIR``).
"""

from .analysis import (  # noqa: F401
    Checkpoint,
    FeatureAnalysis,
    LayerAnalysis,
    analyse_features,
    analyse_layer,
    layer_type,
    network_type,
)
from .file import (  # noqa: F401
    FeatureFile,
    export,
    features_of,
    read,
    save,
)
from .records import (  # noqa: F401
    FeatureSchema,
    is_feature_store,
    load,
    store,
)

__all__ = [
    "FeatureFile", "read", "save", "features_of", "export", "LayerAnalysis", "Checkpoint", "FeatureAnalysis",
    "layer_type", "network_type", "analyse_layer", "analyse_features", "FeatureSchema", "store", "load",
    "is_feature_store",
]
