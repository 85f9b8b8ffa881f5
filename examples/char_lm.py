"""Character-level language model on the King James Bible (4.4M characters, Debian's bible-kjv-text).

Two variants of the same next-character model, written PyTorch-style (explicit training loop):
  --arch transformer  token + position embeddings, pre-norm nn.TransformerEncoderLayer blocks with a
                      causal mask (our fused attention kernel), LayerNorm, linear head;
  --arch lstm         embedding, a 2-layer nn.LSTM, linear head.
AdamW with linear warm-up then cosine decay (SequentialLR), gradient clipping, a held-out
validation loss, then text sampled from the trained model.
Run: python examples/char_lm.py [--arch transformer|lstm] [--steps 600] [--minutes 10]
"""
import argparse
import math
import time

import numpy as np

import tensorforge as tf
from tensorforge import nn, optim
from tensorforge.nn import functional as F


class TransformerLM(nn.Module):
    def __init__(self, vocab, context, width=128, heads=4, layers=3, dropout=0.1):
        super().__init__()
        self.context = context
        self.embed = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(context, width)
        self.blocks = nn.ModuleList([nn.TransformerEncoderLayer(width, heads, 4 * width, dropout, activation="gelu",
                                                                batch_first=True, norm_first=True)
                                     for _ in range(layers)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)

    def forward(self, idx):
        x = self.embed(idx) + self.pos(tf.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x, is_causal=True)
        return self.head(self.norm(x))


class LSTMLM(nn.Module):
    def __init__(self, vocab, context, width=256, layers=2, dropout=0.1):
        super().__init__()
        self.context = context
        self.embed = nn.Embedding(vocab, width)
        self.lstm = nn.LSTM(width, width, num_layers=layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(width, vocab)

    def forward(self, idx):
        out, _ = self.lstm(self.embed(idx))
        return self.head(out)


def encode(text):
    chars = sorted(set(text))
    lookup = np.zeros(256, np.int64)
    lookup[[ord(c) for c in chars]] = np.arange(len(chars))
    return chars, lookup[np.frombuffer(text.encode("ascii"), np.uint8)]


def batches(data, context, batch_size, rng):
    starts = rng.integers(0, len(data) - context - 1, batch_size)
    window = starts[:, None] + np.arange(context + 1)
    chunk = data[window]
    return tf.tensor(chunk[:, :-1]), tf.tensor(chunk[:, 1:])


def loss_on(model, x, y):
    logits = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def sample(model, chars, prompt, length, temperature, rng):
    index = {c: i for i, c in enumerate(chars)}
    ids = [index[c] for c in prompt if c in index]
    model.eval()
    with tf.no_grad():
        for _ in range(length):
            context = tf.tensor(np.array(ids[-model.context:])[None, :])
            logits = model(context)[0, -1].numpy().astype(np.float64) / temperature
            p = np.exp(logits - logits.max())
            ids.append(int(rng.choice(len(p), p=p / p.sum())))
    model.train()
    return "".join(chars[i] for i in ids)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=["transformer", "lstm"], default="transformer")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--minutes", type=float, default=10.0, help="stop training after this long")
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prompt", default="And God said")
    args = ap.parse_args(argv)

    tf.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    text = tf.datasets.bible_kjv(references=False)
    chars, data = encode(text)
    cut = int(0.95 * len(data))
    train, val = data[:cut], data[cut:]
    build = TransformerLM if args.arch == "transformer" else LSTMLM
    model = build(len(chars), args.context)
    params = sum(p.numel() for p in model.parameters())
    print(f"{args.arch} LM: {params / 1e6:.2f}M parameters, vocabulary {len(chars)}, {len(text) / 1e6:.1f}M characters")

    opt = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = max(1, args.steps // 20)
    schedule = optim.lr_scheduler.SequentialLR(opt, [
        optim.lr_scheduler.LinearLR(opt, start_factor=0.05, total_iters=warmup),
        optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.steps - warmup, eta_min=args.lr / 20)],
        milestones=[warmup])
    start = time.perf_counter()
    step = 0
    for step in range(1, args.steps + 1):
        x, y = batches(train, args.context, args.batch_size, rng)
        loss = loss_on(model, x, y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
        if step % 50 == 0 or step == 1:
            elapsed = time.perf_counter() - start
            print(f"step {step:5d}  loss {loss.item():.3f}  lr {schedule.get_last_lr()[0]:.2e}  {elapsed:6.0f} s",
                  flush=True)
        if time.perf_counter() - start > args.minutes * 60:
            print(f"time budget of {args.minutes} min reached at step {step}")
            break
    model.eval()
    with tf.no_grad():
        val_losses = [loss_on(model, *batches(val, args.context, args.batch_size, rng)).item() for _ in range(10)]
    val_loss = float(np.mean(val_losses))
    print(f"validation loss {val_loss:.3f} nats/char (perplexity {math.exp(val_loss):.2f}) after {step} steps, "
          f"{time.perf_counter() - start:.0f} s")
    print("sample:\n" + sample(model, chars, args.prompt, 300, 0.8, rng))
    return val_loss


if __name__ == "__main__":
    main()
