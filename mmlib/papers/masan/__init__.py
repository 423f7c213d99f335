"""MASAN: multiscale patch autoencoders + structural-functional attention (T1 + rs-fMRI, Alzheimer's).

Paper: Zong et al., arXiv 2208.04945, ``../shared/papers/masan-alzheimers-autoencoder.txt``.

* :mod:`~mmlib.papers.masan.paper`: Table 1, Table 2 and Fig. 3 typed once, the
  chapters' full-scale settings. :mod:`~mmlib.papers.masan.claims`: the three
  claims as functions returning verdicts.
* Networks: :mod:`~mmlib.papers.masan.patches` (the patch grid),
  :mod:`~mmlib.papers.masan.autoencoders` (sPM and fPM, 64 sub-networks as one
  grouped computation), :mod:`~mmlib.papers.masan.attention` (region
  self-attention, Eqs. 3-5; T1-guided fusion, Eq. 6),
  :mod:`~mmlib.papers.masan.model` (MASAN and its single branches),
  :mod:`~mmlib.papers.masan.hfcn` (the H-FCN baseline).
* :mod:`~mmlib.papers.masan.training`: Eq. 1, Eq. 8, pre-training then joint training.
* :mod:`~mmlib.papers.masan.data`: paired phantoms, a user's NIfTI manifest,
  OASIS slices, ABIDE windows, with their bad-input checks.
* :mod:`~mmlib.papers.masan.protocol`: one repetition of the 7:3 split, as the
  fold chapters run it; :mod:`~mmlib.papers.masan.results`: how the results
  chapters read the committed runs; :mod:`~mmlib.papers.masan.inspection` and
  :mod:`~mmlib.papers.masan.figures`: Figure 4's measurement and the figures.
"""
