"""CATHODE's conditional density estimator, the baseline beside EveNet's generation: a masked
autoregressive flow (zuko) of the classifier features given m_mumu, trained on sideband
data and sampled at signal-region masses.

Settings of arXiv:2502.14036's `configs/CATHODE_8.yml`: 6 MADE blocks with one hidden layer
of 20 tanh units, affine transforms, Adam (lr 7.5e-4, weight decay 1e-6), batch 256, 400
epochs; the weights of the epoch with the lowest validation loss are kept. Differences: zuko's
MAF has no batch-norm layers between the blocks (the reference has them), and the inputs are
standardised (mean 0, std 1 from the training events) instead of its power scaler.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class FlowSettings:
    blocks: int = 6
    hidden: int = 20
    epochs: int = 400
    batch_size: int = 256
    lr: float = 7.5e-4
    weight_decay: float = 1e-6
    val_fraction: float = 0.2
    seed: int = 0


@dataclass
class TrainedFlow:
    flow: nn.Module
    mean: np.ndarray  # of [features..., mass]
    std: np.ndarray
    history: list[tuple[float, float]]  # (train, validation) loss per epoch
    best_epoch: int

    def _scale(self, values, columns):
        return (values - self.mean[columns]) / self.std[columns]

    @torch.no_grad()
    def log_prob(self, features: np.ndarray, mass: np.ndarray) -> np.ndarray:
        """log density of the standardised features given the mass."""
        n = features.shape[1]
        x = torch.as_tensor(self._scale(features, slice(0, n)), dtype=torch.float32)
        c = torch.as_tensor(self._scale(mass[:, None], slice(n, n + 1)), dtype=torch.float32)
        return self.flow(c).log_prob(x).numpy()

    @torch.no_grad()
    def sample(self, mass: np.ndarray, seed: int = 0) -> np.ndarray:
        """One sample of the features per requested mass (raw units)."""
        torch.manual_seed(seed)
        n = len(self.mean) - 1
        c = torch.as_tensor(self._scale(mass[:, None], slice(n, n + 1)), dtype=torch.float32)
        z = self.flow(c).sample().numpy()
        return z * self.std[:n] + self.mean[:n]


def build_flow(features: int, settings: FlowSettings = FlowSettings()) -> nn.Module:
    import zuko

    return zuko.flows.MAF(
        features,
        1,
        transforms=settings.blocks,
        hidden_features=(settings.hidden,),
        activation=nn.Tanh,
    )


def train_flow(
    features: np.ndarray, mass: np.ndarray, settings: FlowSettings = FlowSettings(), log=None
) -> TrainedFlow:
    """Fit p(features | mass) on the given (sideband) events."""
    rng = np.random.default_rng(settings.seed)
    torch.manual_seed(settings.seed)
    values = np.column_stack([features, mass]).astype(np.float64)
    order = rng.permutation(len(values))
    n_val = max(int(round(settings.val_fraction * len(values))), 1)
    val, train = order[:n_val], order[n_val:]
    mean, std = values[train].mean(0), values[train].std(0)
    std = np.where(std > 0, std, 1.0)
    scaled = torch.as_tensor((values - mean) / std, dtype=torch.float32)
    n = features.shape[1]
    flow = build_flow(n, settings)
    optimizer = torch.optim.Adam(
        flow.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
    )

    def loss_of(rows):
        batch = scaled[rows]
        return -flow(batch[:, n:]).log_prob(batch[:, :n]).mean()

    best, best_state, best_epoch, history = np.inf, None, -1, []
    for epoch in range(settings.epochs):
        flow.train()
        shuffled = rng.permutation(train)
        total = 0.0
        for start in range(0, len(shuffled), settings.batch_size):
            rows = shuffled[start : start + settings.batch_size]
            loss = loss_of(rows)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
        flow.eval()
        with torch.no_grad():
            validation = float(loss_of(val))
        history.append((total / len(train), validation))
        if validation < best:
            best, best_state, best_epoch = validation, copy.deepcopy(flow.state_dict()), epoch
        if log is not None and (epoch + 1) % 50 == 0:
            log(f"[flow] epoch {epoch + 1}: train {history[-1][0]:.4f}, val {validation:.4f}")
    flow.load_state_dict(best_state)
    flow.eval()
    return TrainedFlow(flow, mean, std, history, best_epoch)
