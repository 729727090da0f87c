"""A flow policy fitted by the CFM loss alone reproduces multimodal action distributions; the best
Gaussian (the maximum-likelihood fit) cannot."""

from __future__ import annotations

import math

import pytest
import torch

from fpo_policy.core.flow import FlowNetConfig, VelocityField, cfm_loss, sample_pairs
from fpo_policy.core.sampling import sample_actions

pytestmark = pytest.mark.slow
SAMPLES = 10_000


def two_modes(n: int, g: torch.Generator) -> torch.Tensor:
    """30% of the mass at -2, 70% at +2 (std 0.2). (n, 1)"""
    left = torch.rand(n, generator=g) < 0.3
    return torch.where(left, -2.0, 2.0)[:, None] + 0.2 * torch.randn(n, 1, generator=g)


def ring(n: int, g: torch.Generator) -> torch.Tensor:
    """Radius 1.5 (std 0.08), uniform angle. (n, 2)"""
    theta = 2 * math.pi * torch.rand(n, generator=g)
    r = 1.5 + 0.08 * torch.randn(n, generator=g)
    return torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=-1)


def fit_flow(target, act_dim: int, iters: int = 1500) -> torch.Tensor:
    """Fit v_theta by CFM on samples of ``target`` (constant observation); return flow samples."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    net = VelocityField(FlowNetConfig(obs_dim=1, act_dim=act_dim, hidden=(96, 96, 96)))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iters)
    obs = torch.zeros(256, 1)
    for _ in range(iters):
        pairs = sample_pairs(256, 4, act_dim, generator=g)
        loss = cfm_loss(net, obs, target(256, g), pairs.tau, pairs.eps).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return sample_actions(net, torch.zeros(SAMPLES, 1), act_dim, steps=16, solver="midpoint", generator=g)


def gaussian_fit_samples(target, act_dim: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(2)
    data = target(SAMPLES, g)
    mean, std = data.mean(0), data.std(0)
    return mean + std * torch.randn(SAMPLES, act_dim, generator=g)


def mode_masses(x: torch.Tensor) -> tuple[float, float, float]:
    """Share of samples near -2, near +2, and in the gap between."""
    near_left = float(((x + 2).abs() < 0.6).float().mean())
    near_right = float(((x - 2).abs() < 0.6).float().mean())
    gap = float((x.abs() < 1.0).float().mean())
    return near_left, near_right, gap


def sector_masses(x: torch.Tensor, sectors: int = 8) -> torch.Tensor:
    theta = torch.atan2(x[:, 1], x[:, 0])
    return torch.histc(theta, sectors, -math.pi, math.pi) / x.shape[0]


def band_mass(x: torch.Tensor) -> float:
    return float(((x.norm(dim=-1) - 1.5).abs() < 0.3).float().mean())


def test_flow_reproduces_both_modes_with_their_masses_and_a_gaussian_cannot():
    left, right, gap = mode_masses(fit_flow(two_modes, 1))
    true_left, true_right = 0.3 * 0.9973, 0.7 * 0.9973  # mass within 3 std of each mode
    assert left == pytest.approx(true_left, abs=0.03)
    assert right == pytest.approx(true_right, abs=0.03)
    assert gap < 0.03
    g_left, g_right, g_gap = mode_masses(gaussian_fit_samples(two_modes, 1))
    assert abs(g_left - true_left) > 0.15
    assert abs(g_right - true_right) > 0.15
    assert g_gap > 0.2


def test_flow_reproduces_a_ring_and_a_gaussian_cannot():
    x = fit_flow(ring, 2)
    assert band_mass(x) > 0.95
    assert torch.allclose(sector_masses(x), torch.full((8,), 1 / 8), atol=0.02)
    assert band_mass(gaussian_fit_samples(ring, 2)) < 0.5
