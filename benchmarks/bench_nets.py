"""Forward throughput of each backbone: channels_last versus contiguous memory.

For every registered built-in backbone, a batch of 32 random 224 x 224 images goes
through ``backbone(x)`` under ``torch.inference_mode`` in both memory formats,
alternating the two so that drift in the machine's speed hits both alike. Prints
images per second (median of the timed repeats) and the ratio
channels_last / contiguous of the medians (> 1: channels_last is faster).

Usage::

    python benchmarks/bench_nets.py                 # 2 threads, as on CI
    python benchmarks/bench_nets.py --threads 8 --repeats 10
"""

import argparse
import platform
import statistics
import time

import torch

from artmedium.nets import get_backbone

BACKBONES = ("simple_cnn", "resnet18", "efficientnet_lite0")


def time_forward(net, x, repeats):
    """Seconds per forward pass of ``x``, one value per repeat (after a warm-up)."""
    with torch.inference_mode():
        net(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - start)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(
        f"torch {torch.__version__}, {platform.machine()}, "
        f"{torch.get_num_threads()} threads, batch {args.batch} at "
        f"{args.size}x{args.size}, {args.repeats} repeats"
    )
    header = (
        f"{'backbone':<20}{'contiguous img/s':>18}{'channels_last img/s':>21}"
        f"{'ratio cl/contig':>17}"
    )
    print(header)
    print("-" * len(header))
    x = torch.rand(args.batch, 3, args.size, args.size)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    for name in args.backbones:
        net = get_backbone(name).eval()
        net_cl = get_backbone(name).eval().to(memory_format=torch.channels_last)
        net_cl.load_state_dict(net.state_dict())
        contig, cl = [], []
        for _ in range(args.repeats):
            contig += time_forward(net, x, 1)
            cl += time_forward(net_cl, x_cl, 1)
        rate_contig = args.batch / statistics.median(contig)
        rate_cl = args.batch / statistics.median(cl)
        print(
            f"{name:<20}{rate_contig:>18.1f}{rate_cl:>21.1f}"
            f"{rate_cl / rate_contig:>17.2f}"
        )
    print("img/s: medians over the repeats; ratio > 1 means channels_last is faster.")


if __name__ == "__main__":
    main()
