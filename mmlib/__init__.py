"""mmlib: the code behind the open book on multimodal brain-imaging deep learning.

Shared layers, in import order (a layer imports only the ones before it):
:mod:`mmlib.data` (loaders, phantoms, splits, transforms), :mod:`mmlib.nets`
(shared network blocks), :mod:`mmlib.eval` (metrics, paper-vs-book tables, claim
verdicts), :mod:`mmlib.train` (the loop, the classification loss and validation),
:mod:`mmlib.runs` (the papermill fold runner and the one results format) and
:mod:`mmlib.viz`. Each paper has its own package under :mod:`mmlib.papers`.
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
