"""Models: one module per paper plus shared blocks.

* Glioma grading (Xu et al.): :mod:`~mmlib.models.rmc`, :mod:`~mmlib.models.attention`,
  :mod:`~mmlib.models.guidance`, :mod:`~mmlib.models.fusion_baselines3d`,
  :mod:`~mmlib.models.mmd_vae`.
* CT-MRI fusion (DILRAN): :mod:`~mmlib.models.dilran`, :mod:`~mmlib.models.fusion_rules`,
  :mod:`~mmlib.models.perceptual`, :mod:`~mmlib.models.fusion_baselines`.
"""
