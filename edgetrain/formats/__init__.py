"""Storage formats: sparse indexing and int8 quantization math."""
