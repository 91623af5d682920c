"""Train the paper's classifier: the proposed method (cosine learning-rate decay) or the baseline.

    python train.py --seed 3 --out runs/3                    # the method
    python train.py --model baseline --seed 3 --out runs/3   # the baseline

The data set is generated from a FIXED data seed, so only --seed (weight initialisation and
mini-batch order) varies between runs. Writes {out}/metrics.json: {"test": {"acc": 0.8123}}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

DATA_SEED = 20240601  # fixed: every run sees the same data set
FEATURES = 16
CLASSES = 4
TRAIN_SIZE = 600
TEST_SIZE = 4000
EPOCHS = 10
BATCH_SIZE = 50
LEARNING_RATE = 0.0325
MOMENTUM = 0.9


def make_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A noisy non-linear 4-class problem: labels from a random two-layer teacher network."""
    rng = np.random.default_rng(DATA_SEED)
    x = rng.normal(size=(TRAIN_SIZE + TEST_SIZE, FEATURES)).astype(np.float32)
    teacher_hidden = np.tanh(x @ rng.normal(size=(FEATURES, 32)) / np.sqrt(FEATURES))
    logits = teacher_hidden @ rng.normal(size=(32, CLASSES)) * 2.0
    logits += rng.gumbel(size=logits.shape)  # label noise: sample from the teacher's softmax
    y = logits.argmax(axis=1)
    x_t, y_t = torch.from_numpy(x), torch.from_numpy(y)
    return x_t[:TRAIN_SIZE], y_t[:TRAIN_SIZE], x_t[TRAIN_SIZE:], y_t[TRAIN_SIZE:]


def learning_rate(model_name: str, step: int, total_steps: int) -> float:
    """The paper's one trick: the method decays the learning rate to zero on a cosine."""
    if model_name == "baseline":
        return LEARNING_RATE
    return LEARNING_RATE * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))


def train(model_name: str, seed: int) -> float:
    """Train one model under `seed` (initialisation and batch order); return its test accuracy."""
    x_train, y_train, x_test, y_test = make_data()
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(FEATURES, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, CLASSES)
    )
    parameters = list(model.parameters())
    velocities = [torch.zeros_like(p) for p in parameters]
    loss_fn = nn.CrossEntropyLoss()
    total_steps = EPOCHS * -(-TRAIN_SIZE // BATCH_SIZE)
    step = 0
    for _epoch in range(EPOCHS):
        order = torch.randperm(TRAIN_SIZE)
        for start in range(0, TRAIN_SIZE, BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            model.zero_grad()
            loss_fn(model(x_train[batch]), y_train[batch]).backward()
            rate = learning_rate(model_name, step, total_steps)
            step += 1
            # SGD with momentum written out: constructing any torch.optim optimizer imports
            # torch._dynamo (about 1.5 s), which would double the run time of this small example.
            with torch.no_grad():
                for parameter, velocity in zip(parameters, velocities, strict=True):
                    velocity.mul_(MOMENTUM).add_(parameter.grad)
                    parameter.sub_(rate * velocity)
    with torch.no_grad():
        return (model(x_test).argmax(dim=1) == y_test).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["method", "baseline"], default="method")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    accuracy = train(args.model, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps({"test": {"acc": round(accuracy, 4)}}) + "\n")
    print(f"{args.model} seed {args.seed}: test acc {accuracy:.4f}")


if __name__ == "__main__":
    main()
