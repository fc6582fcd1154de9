"""Readers for datasets in their official layouts (numpy/OpenCV only; shared by training and evaluation)."""
