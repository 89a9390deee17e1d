"""Behaviours: what tracked objects do in a camera's zones and across its lines.

One module per behaviour (a rule: a small state machine over the tracks) and ``engine.py``,
which runs a camera's configured behaviours and is what the pipeline uses.
"""

from vigil.analytics.behaviours.base import BehaviourHit
from vigil.analytics.behaviours.engine import BehaviourEngine

__all__ = ["BehaviourEngine", "BehaviourHit"]
