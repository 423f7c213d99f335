"""MASAN: multiscale patch autoencoders + structural-functional attention (T1 + rs-fMRI, Alzheimer's).

Paper: ``../shared/papers/masan-alzheimers-autoencoder.txt``. Empty until its
issue lands; follow the layout of :mod:`mmlib.papers.guidance` (CONTRIBUTING.md).
"""
