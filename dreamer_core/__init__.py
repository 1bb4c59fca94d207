"""dreamer_core: a faithful PyTorch DreamerV3 (Nature 2025 / official HEAD). Qt-free by contract."""

__version__ = "0.1.0"
