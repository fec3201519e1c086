"""The prgym Gymnasium environment; importing this package registers ``prgym/ProductResearch-v0`` and
``prgym/ShoppingTask-v0``."""

from sandbox.env.core import ENV_VERSION, ProductResearchEnv
from sandbox.env.events import EnvEvent
from sandbox.env.per_call import EpisodeScore, PlanMode, ToolStepResult
from sandbox.env.registration import RESEARCH_ID, SHOPPING_ID, register_envs
from sandbox.env.shared import clear_shared, shared_backend
from sandbox.env.spaces import AgentActionSpace, TextSpace

register_envs()

__all__ = [
    "ENV_VERSION",
    "RESEARCH_ID",
    "SHOPPING_ID",
    "AgentActionSpace",
    "EnvEvent",
    "EpisodeScore",
    "PlanMode",
    "ProductResearchEnv",
    "TextSpace",
    "ToolStepResult",
    "clear_shared",
    "register_envs",
    "shared_backend",
]
