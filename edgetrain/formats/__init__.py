"""Storage formats: the model file (`formats.modelfile`) and the sparse index formats (`formats.sparse`)."""
