"""M3: mask attention + multi-scale deep features, PCA + SVM (glioma vs metastasis; haemorrhagic transformation).

Paper: ``../shared/papers/m3-mask-attention-multiscale.txt`` (Kong et al. 2024).

* :mod:`~mmlib.papers.m3.paper`: Tables 3-7 and the AUCs Sec. 3.2 quotes from
  Figure 4, typed once, and the chapters' full-scale settings;
  :mod:`~mmlib.papers.m3.claims`: the four claims as testable functions.
* Networks: :mod:`~mmlib.papers.m3.medicalnet` (MedicalNet's dilated 3D ResNet-50
  on MONAI's ResNet, its segmentation head, the weights loader),
  :mod:`~mmlib.papers.m3.features` (Eq. 1: mask attention and multi-scale pooling,
  with the ablation switches), :mod:`~mmlib.papers.m3.training` (segmentation
  training, Dice, the Direct CNN baseline).
* Classifiers: :mod:`~mmlib.papers.m3.heads` (scaling, PCA chosen in the training
  fold, SVM; RF, GBM and MLP).
* Data: :mod:`~mmlib.papers.m3.cohorts` (the two tasks' phantoms, a user's NIfTI
  cohort from a CSV), :mod:`~mmlib.papers.m3.volumes` (the MONAI dataset and its
  bad-input checks), :mod:`~mmlib.papers.m3.radiomics` (the classifier stage on
  the real radiomics cohorts).
* :mod:`~mmlib.papers.m3.protocol`: one fold of every experiment, as the fold
  chapter runs it; :mod:`~mmlib.papers.m3.results`: how the results chapters read
  the committed runs; :mod:`~mmlib.papers.m3.figures`: training curves and the
  mask-attention panels.
"""
