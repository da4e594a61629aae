"""pmgen: personalized multimodal content generation for recommendation.

Heavy submodules (torch, transformers) load only when used.
"""

from __future__ import annotations

__version__ = "0.1.0"
