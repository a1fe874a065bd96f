"""Linear and one-hidden-layer probes of the routed feature (visual-probe.ts writes it): fit on
the alignment pool's images, scored on the test set's, cell by cell (11 classes: digit or empty).
PyTorch, independent of peftgraph.   python3 bench/vqa/visual_probe.py /tmp/probe"""
import json
import sys

import torch


def load(d, name):
    with open(f"{d}/{name}.json") as f:
        j = json.load(f)
    x = torch.tensor(j["feats"]).view(j["n"], -1)
    return x, torch.tensor(j["cells"]).view(j["n"], 4)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/probe"
    (xp, yp), (xt, yt) = load(d, "pool"), load(d, "test")
    torch.manual_seed(0)
    width = xp.shape[1]
    for hidden in (0, 128):
        m = (torch.nn.Linear(width, 44) if hidden == 0 else
             torch.nn.Sequential(torch.nn.Linear(width, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, 44)))
        opt = torch.optim.Adam(m.parameters(), 1e-2)
        for _ in range(2000):
            opt.zero_grad()
            out = m(xp)
            loss = sum(torch.nn.functional.cross_entropy(out[:, 11 * c:11 * c + 11], yp[:, c]) for c in range(4))
            loss.backward()
            opt.step()
        with torch.no_grad():
            o = m(xt)
            acc = sum((o[:, 11 * c:11 * c + 11].argmax(1) == yt[:, c]).float().mean().item() for c in range(4)) / 4
        kind = "linear" if hidden == 0 else f"hidden {hidden}"
        print(f"{kind} probe: fit on {len(xp)} pool images, test cell accuracy {acc:.3f} ({len(xt)} images)")


main()
