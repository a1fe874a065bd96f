"""Linear and one-hidden-layer probes of the routed feature (visual-probe.ts writes it): fit on
the alignment pool's images, scored on the test set's, cell by cell (11 classes: digit or empty).
Then the test questions answered from each probe's reads, by the Bayes decision over its per-cell
posteriors taken as independent: an estimate of what a model reading the feature cell by cell can
score (VQA soft accuracy against the ten annotators), beside the same rule on the true cells.
PyTorch, independent of peftgraph.   python3 bench/vqa/visual_probe.py /tmp/probe"""
import json
import re
import sys

import torch

POSITIONS = ["top-left", "top-right", "bottom-left", "bottom-right"]
EMPTY = 10


def load(d, name):
    with open(f"{d}/{name}.json") as f:
        j = json.load(f)
    x = torch.tensor(j["feats"]).view(j["n"], -1)
    return x, torch.tensor(j["cells"]).view(j["n"], 4), j


def decide(post, q):
    """The answer with the highest posterior probability, cells independent. post: [4, 11]."""
    words = q["words"]
    digit = next((int(w[1]) for w in words if re.fullmatch(r"d\d", w)), None)
    if q["family"] == "digit-at":
        k = int(post[POSITIONS.index(next(w for w in words if w in POSITIONS))].argmax())
        return "none" if k == EMPTY else str(k)
    p = post[:, digit]  # each cell's probability of holding the named digit
    if q["family"] == "is-there":
        return "yes" if 1 - torch.prod(1 - p) > 0.5 else "no"
    if q["family"] == "count-digit":
        dist = torch.tensor([1.0])  # the count's distribution, a sum of four Bernoullis
        for pc in p:
            dist = torch.cat([dist * (1 - pc), torch.zeros(1)]) + torch.cat([torch.zeros(1), dist * pc])
        return str(int(dist.argmax()))
    raise ValueError(f"visual_probe: family {q['family']!r} is not an alignment family")


def vqa_accuracy(posts, j):
    """Mean soft score (min(1, matching annotators / 3)) of the decided answers, overall and per family."""
    scores = {}
    for post, q, ann in zip(posts, j["questions"], j["annotations"]):
        a = decide(post, q)
        scores.setdefault(q["family"], []).append(min(1.0, sum(x == a for x in ann) / 3))
    every = [s for v in scores.values() for s in v]
    fams = ", ".join(f"{f} {sum(v) / len(v):.3f}" for f, v in sorted(scores.items()))
    return f"{sum(every) / len(every):.3f} ({fams})"


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/probe"
    (xp, yp, _), (xt, yt, jt) = load(d, "pool"), load(d, "test")
    torch.manual_seed(0)
    width = xp.shape[1]
    truth = torch.nn.functional.one_hot(yt, 11).float()
    print(f"the questions answered from the true cells: VQA accuracy {vqa_accuracy(truth, jt)}")
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
            o = m(xt).view(-1, 4, 11)
            acc = (o.argmax(2) == yt).float().mean().item()
            posts = o.softmax(2)
        kind = "linear" if hidden == 0 else f"hidden {hidden}"
        print(f"{kind} probe: fit on {len(xp)} pool images, test cell accuracy {acc:.3f} ({len(xt)} images)")
        print(f"  the test questions answered from its reads: VQA accuracy {vqa_accuracy(posts, jt)}")


main()
