"""Home-made model registries (seed 000): ``registry.json`` beside a folder of model files, and
the same metadata in the ``mr_models``, ``mr_model_versions`` and ``mr_model_tags`` tables."""
