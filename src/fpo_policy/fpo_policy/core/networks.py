"""Small MLP building blocks shared by the flow actor, the Gaussian actor and the critic."""

from __future__ import annotations

from torch import Tensor, nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"silu": nn.SiLU, "tanh": nn.Tanh, "relu": nn.ReLU}


def mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int, activation: str = "tanh") -> nn.Sequential:
    """Linear layers of widths ``hidden`` with ``activation`` between them; a linear output layer."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    width = in_dim
    for h in hidden:
        layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
        width = h
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class ValueFunction(nn.Module):
    """Critic V(obs): obs (B, O) -> (B,)."""

    def __init__(self, obs_dim: int, hidden: tuple[int, ...] = (64, 64), activation: str = "tanh") -> None:
        super().__init__()
        self.net = mlp(obs_dim, hidden, 1, activation)

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(obs).squeeze(-1)
