"""M3: mask attention + multi-scale deep features, PCA + SVM (glioma vs metastasis; haemorrhagic transformation).

Paper: ``../shared/papers/m3-mask-attention-multiscale.txt``. Empty until its
issue lands; follow the layout of :mod:`mmlib.papers.guidance` (CONTRIBUTING.md).
"""
