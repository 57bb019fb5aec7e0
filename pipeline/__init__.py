"""avstroke: audio-visual biomarkers of post-stroke orofacial and speech impairment.

``pipeline`` holds the stages (thin command-line modules), the manifest, the cache and the runner.
The science lives in ``features``, ``models`` and ``reports``.
"""
__version__ = "0.1.0"
