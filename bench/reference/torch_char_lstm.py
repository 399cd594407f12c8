#!/usr/bin/env python3
"""Reference char-level LSTM LM trainer (PyTorch, CPU) for throughput / val-loss anchors.

Model: one-hot(V) -> L-layer LSTM(H) -> Linear(H, V); softmax cross-entropy on every timestep.
Training: truncated BPTT over B contiguous streams of the train split, hidden state carried
(detached) from chunk to chunk and reset to zero when the streams wrap; Adam lr 2e-3; grad-norm clip 5.
Split: first 90% of characters train, last 10% validation; vocab = sorted set of distinct chars.

Output: one JSON line per measurement window / eval (with --json), then a final summary line.
  chars/s counts predicted characters = batch * seq per step; the first --warmup steps are excluded.
  val_loss = mean CE (nats/char) over every target of the validation split, evaluated with carried
  state: the split is cut into --eval_batch streams; each stream after the first is first fed the
  --eval_burnin characters preceding its segment (unscored), so every target is scored exactly once.

--mkldnn off turns PyTorch's oneDNN (mkldnn) LSTM off, so that its native ATen LSTM runs; which is
faster depends on the CPU and the size, so the benchmark runs both and keeps the faster.
--sample N times sampling instead of training: N characters at batch 1 from the untrained model,
each an LSTM step, the Linear head, softmax and torch.multinomial, under torch.inference_mode.

Example:
  python torch_char_lstm.py --hidden 128 --seq 50 --batch 50 --minutes 1 --json
"""
import argparse, json, math, os, statistics, time

import torch
import torch.nn as nn
import torch.nn.functional as F


class CharLSTM(nn.Module):
    def __init__(self, vocab, hidden, layers):
        super().__init__()
        self.vocab = vocab
        self.lstm = nn.LSTM(vocab, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx, state=None):  # idx: [B, T] int64
        x = F.one_hot(idx, self.vocab).float()
        out, state = self.lstm(x, state)
        return self.head(out), state


def load(path):
    text = open(path, encoding="utf-8").read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(data))
    return data[:n], data[n:], len(chars)


@torch.no_grad()
def evaluate(model, val, eval_batch, burnin, chunk):
    """Mean CE over all len(val)-1 targets, every target scored exactly once (see module doc)."""
    model.eval()
    N = len(val) - 1                      # number of (input, target) pairs
    E = eval_batch
    S = math.ceil(max(N - burnin, 1) / E)  # scored positions per stream (stream 0 gets S + burnin)
    L = S + burnin
    pos = torch.arange(E).unsqueeze(1) * S + torch.arange(L).unsqueeze(0)  # [E, L]
    scored = (pos < N) & ((torch.arange(L).unsqueeze(0) >= burnin) | (torch.arange(E).unsqueeze(1) == 0))
    posc = pos.clamp(max=N - 1)
    x, y = val[posc], val[posc + 1]
    total, count, state = 0.0, 0, None
    for t in range(0, L, chunk):
        logits, state = model(x[:, t:t + chunk], state)
        ce = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y[:, t:t + chunk].reshape(-1), reduction="none")
        m = scored[:, t:t + chunk].reshape(-1)
        total += ce[m].double().sum().item()
        count += int(m.sum())
    model.train()
    assert count == N, (count, N)
    return total / count


def sample(model, V, n, threads):
    """chars/s of the plain batch-1 loop, after 50 characters of warm-up."""
    with torch.inference_mode():
        idx, state = torch.zeros(1, 1, dtype=torch.long), None

        def run(count):
            nonlocal idx, state
            for _ in range(count):
                logits, state = model(idx, state)
                idx = torch.multinomial(F.softmax(logits[:, -1], dim=-1), 1)

        run(50)
        t0 = time.perf_counter()
        run(n)
        dt = time.perf_counter() - t0
    return dict(event="final", sample=n, threads=threads, chars_per_s=round(n / dt, 1))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "tinyshakespeare.txt"))
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--seq", type=int, default=50)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps (0 = no limit)")
    p.add_argument("--minutes", type=float, default=1.0, help="training wall-clock budget (eval time excluded)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--warmup", type=int, default=5, help="steps excluded from throughput")
    p.add_argument("--window", type=float, default=10.0, help="seconds per throughput window")
    p.add_argument("--eval", choices=["end", "none"], default="end")
    p.add_argument("--eval_every", type=float, default=0.0, help="also eval every N train-seconds (0 = off)")
    p.add_argument("--eval_batch", type=int, default=64)
    p.add_argument("--eval_burnin", type=int, default=200)
    p.add_argument("--eval_chunk", type=int, default=500)
    p.add_argument("--json", action="store_true", help="print JSON lines (default: human-readable)")
    p.add_argument("--mkldnn", choices=["on", "off"], default="on", help="PyTorch's oneDNN LSTM (default on, as PyTorch has it)")
    p.add_argument("--sample", type=int, default=0, help="time sampling this many characters at batch 1 instead of training")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.backends.mkldnn.enabled = a.mkldnn == "on"
    torch.manual_seed(a.seed)

    def emit(rec):
        print(json.dumps(rec) if a.json else "  ".join(f"{k}={v}" for k, v in rec.items()), flush=True)

    train, val, V = load(a.data)
    model = CharLSTM(V, a.hidden, a.layers)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    nparams = sum(q.numel() for q in model.parameters())
    emit(dict(event="config", torch=torch.__version__, torch_threads=torch.get_num_threads(), vocab=V,
              n_train=len(train), n_val=len(val), params=nparams, **{k: v for k, v in vars(a).items() if k != "json"}))

    if a.sample:
        return emit(sample(model, V, a.sample, a.threads))

    B, T = a.batch, a.seq
    stream_len = len(train) // B
    streams = train[: B * stream_len].view(B, stream_len)
    n_chunks = (stream_len - 1) // T
    chars_per_step = B * T

    state, step, chunk = None, 0, 0
    train_time = 0.0           # seconds spent training (excludes evaluation)
    meas_t, meas_steps = 0.0, 0  # post-warm-up training time / steps
    win_t, win_steps, windows = 0.0, 0, []
    next_eval = a.eval_every if a.eval_every > 0 else float("inf")
    budget = a.minutes * 60 if a.minutes > 0 else float("inf")
    loss_val = float("nan")
    while train_time < budget and (a.steps == 0 or step < a.steps):
        t0 = time.perf_counter()
        if chunk == n_chunks:  # streams wrapped: new epoch, fresh state
            chunk, state = 0, None
        x = streams[:, chunk * T: chunk * T + T]
        y = streams[:, chunk * T + 1: chunk * T + T + 1]
        logits, state = model(x, state)
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        loss_val = loss.item()
        dt = time.perf_counter() - t0
        train_time += dt
        step += 1
        chunk += 1
        if step > a.warmup:
            meas_t += dt; meas_steps += 1
            win_t += dt; win_steps += 1
            if win_t >= a.window:
                windows.append(win_steps * chars_per_step / win_t)
                emit(dict(event="window", step=step, train_s=round(train_time, 2), chars_per_s=round(windows[-1], 1),
                          train_loss=round(loss_val, 4)))
                win_t, win_steps = 0.0, 0
        if train_time >= next_eval:
            t1 = time.perf_counter()
            vl = evaluate(model, val, a.eval_batch, a.eval_burnin, a.eval_chunk)
            emit(dict(event="eval", step=step, train_s=round(train_time, 2), val_loss=round(vl, 5),
                      eval_s=round(time.perf_counter() - t1, 2)))
            next_eval += a.eval_every

    summary = dict(event="final", hidden=a.hidden, layers=a.layers, seq=T, batch=B, threads=a.threads, steps=step,
                   epochs=round(step / n_chunks, 3), train_s=round(train_time, 2), train_loss=round(loss_val, 4),
                   chars_per_s_mean=round(meas_steps * chars_per_step / meas_t, 1) if meas_t else None,
                   chars_per_s_median_window=round(statistics.median(windows), 1) if windows else None, n_windows=len(windows))
    if a.eval == "end":
        t1 = time.perf_counter()
        summary["val_loss"] = round(evaluate(model, val, a.eval_batch, a.eval_burnin, a.eval_chunk), 5)
        summary["eval_s"] = round(time.perf_counter() - t1, 2)
    emit(summary)


if __name__ == "__main__":
    main()
