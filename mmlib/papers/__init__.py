"""One package per paper: its tables and claims, networks, training specifics and per-fold protocol.

* :mod:`mmlib.papers.guidance`: glioma grading by cross-modality guidance with
  dual attention (Xu et al.).
* :mod:`mmlib.papers.dilran`: CT-MRI image fusion with DILRAN (Zhou, Xu & Zhang).
* :mod:`mmlib.papers.m3`: mask attention + multi-scale features, PCA + SVM (to come).
* :mod:`mmlib.papers.masan`: multiscale patch autoencoders with structural-functional
  attention, T1 + fMRI (to come).

A paper package imports the shared layers (:mod:`mmlib.data`, :mod:`mmlib.nets`,
:mod:`mmlib.eval`, :mod:`mmlib.train`, :mod:`mmlib.runs`, :mod:`mmlib.viz`) and
itself, never another paper; no shared layer imports a paper
(``tests/test_import_rules.py``).
"""
