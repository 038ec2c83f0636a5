"""Plain ``nn.Module`` building blocks (no Lightning), shape contracts in the docstrings."""

from ecg_synth.models.components.autoencoder import ConvAutoencoder
from ecg_synth.models.components.conditioning import (
    CONDITIONS,
    Conditional,
    ConditionEmbedding,
    Projection,
    parse_condition,
)
from ecg_synth.models.components.conv import ConvCritic, ConvGenerator, ConvTrunk
from ecg_synth.models.components.mlp import MLPDiscriminator, MLPGenerator
from ecg_synth.models.components.rhythm import WithRR

__all__ = [
    "CONDITIONS",
    "ConditionEmbedding",
    "Conditional",
    "ConvAutoencoder",
    "ConvCritic",
    "ConvGenerator",
    "ConvTrunk",
    "MLPDiscriminator",
    "MLPGenerator",
    "Projection",
    "WithRR",
    "parse_condition",
]
