"""Piper (VITS) voices as ONNX on onnxruntime, phonemized by the server's espeak-ng: files, names, engine."""
