"""Inputs and outputs: decoding images, expanding paths, writing tables."""
