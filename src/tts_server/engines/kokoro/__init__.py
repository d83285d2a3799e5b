"""Kokoro-82M v1.0 (Apache-2.0) as ONNX on onnxruntime: files, phonemes, voices and the engine."""
