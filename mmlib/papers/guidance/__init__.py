"""Glioma grading by cross-modality guidance with dual attention (Xu et al.).

Paper: ``../shared/papers/cross-modality-guidance-dual-attention.txt``.

* :mod:`~mmlib.papers.guidance.paper`: Tables III-VIII typed once, and the
  full-scale settings of the chapters. :mod:`~mmlib.papers.guidance.claims`:
  the four claims as testable functions.
* Networks: :mod:`~mmlib.papers.guidance.rmc` (RMC and DA_RMC),
  :mod:`~mmlib.papers.guidance.model` (the guidance-aided model),
  :mod:`~mmlib.papers.guidance.modality_fusion` (ensemble, pixel / feature /
  decision fusion and AGG baselines), :mod:`~mmlib.papers.guidance.mmd_vae`.
* Training: :mod:`~mmlib.papers.guidance.training` (Algorithm 1's two stages).
* :mod:`~mmlib.papers.guidance.protocol`: one fold of every experiment, as the
  fold chapters run it. :mod:`~mmlib.papers.guidance.radiomics`: the Table VIII
  baselines on radiomics tables.
* Figure 5: :mod:`~mmlib.papers.guidance.case_selection`,
  :mod:`~mmlib.papers.guidance.feature_maps`.
"""
