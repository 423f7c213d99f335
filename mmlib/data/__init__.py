"""Data: readers that fail clearly, real-dataset loaders, phantoms, transforms and splits.

Import from the sub-modules (kept separate so that importing one loader does not
pull in the rest):

* :mod:`mmlib.data.io`: NIfTI/PNG readers that raise :class:`mmlib.errors.DataError`.
* :mod:`mmlib.data.aanlib`, :mod:`~mmlib.data.brats`, :mod:`~mmlib.data.radiomics`,
  :mod:`~mmlib.data.oasis`, :mod:`~mmlib.data.abide`: the real public datasets.
* :mod:`mmlib.data.manifest`, :mod:`mmlib.data.download`: manifests and checked downloads.
* :mod:`mmlib.data.phantoms`: synthetic cohorts on the MNI152 template.
* :mod:`mmlib.data.transforms`: MONAI pipelines. :mod:`mmlib.data.splits`: patient-level folds.
"""
