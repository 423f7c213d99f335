"""mmlib: the code behind the open book on multimodal brain-imaging deep learning.

Sub-packages follow the pipeline: :mod:`mmlib.data` (loaders, phantoms, splits,
transforms), :mod:`mmlib.models` (one module per paper plus shared blocks),
:mod:`mmlib.train`, :mod:`mmlib.eval`, :mod:`mmlib.viz` and :mod:`mmlib.runs`
(the papermill fold runner).
"""

from mmlib.config import REPO_ROOT, data_root, resolve_device, seed_everything
from mmlib.errors import DataError, ParameterError

__all__ = [
    "REPO_ROOT",
    "DataError",
    "ParameterError",
    "data_root",
    "resolve_device",
    "seed_everything",
]
__version__ = "0.1.0"
