"""edgec's graph passes and the per-target pipeline that orders them.

One public pass per file; ``pipeline.py`` is the single place where passes are ordered.
"""
