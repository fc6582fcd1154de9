"""Video: decoding (reader), identities (tracker), smoothing, per-track summaries, annotated output."""
