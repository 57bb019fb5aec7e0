"""The orofacial examination tasks and participant groups avstroke knows.

Task codes are those of the Toronto NeuroFace release (NEUROFACE.md). Group codes are the
manifest's; ``GROUP_NAMES`` gives the words used in reports.
"""
from __future__ import annotations

SPEECH_TASKS = ("BBP_NORMAL", "DDK_PA", "DDK_PATAKA")
NONSPEECH_TASKS = ("NSM_SPREAD", "NSM_KISS", "NSM_OPEN", "NSM_BROW", "NSM_BLOW", "NSM_BIGSMILE")
TASKS = SPEECH_TASKS + NONSPEECH_TASKS
DDK_TASKS = ("DDK_PA", "DDK_PATAKA")
# Syllables in one repeated cycle of each DDK task: rate and rhythm are measured over whole cycles.
DDK_CYCLE_SYLLABLES = {"DDK_PA": 1, "DDK_PATAKA": 3}

GROUPS = ("HC", "PS", "ALS")
GROUP_NAMES = {"HC": "healthy control", "PS": "post-stroke", "ALS": "ALS"}
SEXES = ("M", "F")
