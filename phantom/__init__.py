"""The phantom cohort: synthetic NeuroFace-layout recordings with known truth.

Real photographs are animated by warping along landmark displacement fields, and task audio is
synthesised from a glottal source, so every feature has a known answer. ``schedule`` times the
events (syllables, movement repetitions) that both the face motion and the voice follow.
"""
