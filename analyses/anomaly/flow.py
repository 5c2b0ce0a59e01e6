"""CATHODE's conditional density estimator, the baseline beside EveNet's generation: a masked
autoregressive flow (zuko) of the classifier features given m_mumu, trained on sideband
data and sampled at signal-region masses.

Settings of arXiv:2502.14036's `configs/CATHODE_8.yml`: 6 MADE blocks with one hidden layer
of 20 tanh units, affine transforms, Adam (lr 7.5e-4, weight decay 1e-6), batch 256, 400
epochs; the weights of the epoch with the lowest validation loss are kept. The inputs
(features and mass) go through a Yeo-Johnson power transform with standardisation
(scikit-learn's PowerTransformer, fitted on the training events), as the reference's power
scaler. Difference: zuko's MAF has no batch-norm layers between the blocks (the reference has
them).
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
    scaler: object  # sklearn PowerTransformer of [features..., mass]
    history: list[tuple[float, float]]  # (train, validation) loss per epoch
    best_epoch: int

    def _scaled(self, features: np.ndarray | None, mass: np.ndarray) -> np.ndarray:
        n = self.scaler.n_features_in_ - 1
        values = np.zeros((len(mass), n + 1))
        if features is not None:
            values[:, :n] = features
        values[:, n] = mass
        return self.scaler.transform(values)

    @torch.no_grad()
    def log_prob(self, features: np.ndarray, mass: np.ndarray) -> np.ndarray:
        """log density of the transformed features given the mass."""
        scaled = torch.as_tensor(self._scaled(features, mass), dtype=torch.float32)
        n = features.shape[1]
        return self.flow(scaled[:, n:]).log_prob(scaled[:, :n]).numpy()

    @torch.no_grad()
    def sample(self, mass: np.ndarray, seed: int = 0) -> np.ndarray:
        """One sample of the features per requested mass (raw units)."""
        torch.manual_seed(seed)
        scaled = self._scaled(None, mass)
        n = scaled.shape[1] - 1
        c = torch.as_tensor(scaled[:, n:], dtype=torch.float32)
        scaled[:, :n] = self.flow(c).sample().numpy()
        return self.scaler.inverse_transform(scaled)[:, :n]


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
    features: np.ndarray,
    mass: np.ndarray,
    settings: FlowSettings = FlowSettings(),
    log=None,
    validation: np.ndarray | None = None,
) -> TrainedFlow:
    """Fit p(features | mass) on the given (sideband) events; ``validation`` (a boolean mask)
    picks the validation events, default a random ``settings.val_fraction``."""
    from sklearn.preprocessing import PowerTransformer

    rng = np.random.default_rng(settings.seed)
    torch.manual_seed(settings.seed)
    values = np.column_stack([features, mass]).astype(np.float64)
    if validation is None:
        order = rng.permutation(len(values))
        n_val = max(int(round(settings.val_fraction * len(values))), 1)
        val, train = order[:n_val], order[n_val:]
    else:
        val, train = np.flatnonzero(validation), np.flatnonzero(~np.asarray(validation))
    if len(val) == 0 or len(train) == 0:
        raise ValueError(
            f"the flow needs training and validation events ({len(train)}, {len(val)})"
        )
    scaler = PowerTransformer(method="yeo-johnson", standardize=True).fit(values[train])
    scaled = torch.as_tensor(scaler.transform(values), dtype=torch.float32)
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
    return TrainedFlow(flow, scaler, history, best_epoch)
