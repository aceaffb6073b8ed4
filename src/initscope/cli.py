"""The ``initscope`` command: a thin shell over library calls.

    initscope demo                 # signal propagation of the classic schemes, deep MLP
    initscope gain gelu            # forward, backward and torch gains of an activation
    initscope fans 32,64,3,3 --layout torch_conv_transpose
    initscope theory gelu --sigma-b2 0.05   # critical point, depth scales, phase diagram
    initscope diagnose [module:callable --input-shape 3,32,32]   # exit 1 if problems

Exit status: 0 done; 1 ``diagnose`` found problems; 2 a user error (a bad argument, a
target that cannot be built or does not take the input, a path that cannot be written),
said in one line before any long run starts; 3 an unexpected error in initscope, with
its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._core.activations import activation_names
from ._core.fans import LAYOUTS, fans
from ._core.gain import gain_of
from ._gain import resolve_activation

#: Exit statuses (see the module docstring).
OK, PROBLEMS, USER_ERROR, INTERNAL_ERROR = 0, 1, 2, 3


class UserError(ValueError):
    """A mistake in what the user asked for: one line, exit status 2."""


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(p) for p in text.replace("x", ",").split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated ints such as 64,32,3,3; got {text!r}"
        ) from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected positive comma-separated ints such as 3,32,32; got {text!r}")
    return values


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive int; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int; got {text!r}")
    return value


def _writable_file(path: str, what: str) -> None:
    """Refuse, before any work, a file path that cannot be written: its directory is
    created if missing (as the writers do) and the file opened for append (a file that
    did not exist is removed again)."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{what} {path!r} is a directory; give a file path")
    existed = p.exists()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "a", encoding="utf-8"):
            pass
    except OSError as e:
        raise UserError(f"{what} {path!r} cannot be written: {e.strerror or e}") from None
    if not existed:
        p.unlink()


def _writable_dir(path: str, what: str) -> None:
    """Refuse, before any work, a directory that cannot be created or written into
    (created now, with a probe file written and removed)."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
        probe = p / f".initscope-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UserError(f"{what} {path!r} cannot be created or written: "
                        f"{e.strerror or e}") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="initscope", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="signal propagation of the classic schemes in a deep MLP")
    d.add_argument("--depth", type=_positive, default=10)
    d.add_argument("--width", type=_positive, default=256)
    d.add_argument("--batch", type=_positive, default=512)
    d.add_argument("--activations", default="tanh,relu", help="comma-separated, e.g. tanh,relu")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--json", metavar="PATH", help="also write the per-layer records as JSON")

    g = sub.add_parser("gain", help="gains of an activation under each criterion")
    g.add_argument("activation", help=f"one of: {', '.join(activation_names())}")
    g.add_argument("--param", type=float, default=None, help="slope / alpha / beta")

    dg = sub.add_parser("diagnose", help="per-layer signal propagation and verdicts")
    dg.add_argument("target", nargs="?", default=None,
                    help="module:callable building the model (default: Glorot & Bengio's "
                         "5 x 1000 tanh network under their standard and normalized init)")
    dg.add_argument("--input-shape", type=_ints, default=None, help="e.g. 3,32,32")
    dg.add_argument("--batch", type=_positive, default=64)
    dg.add_argument("--scheme", default=None, help="initialize with this scheme first")
    dg.add_argument("--seed", type=int, default=0)
    dg.add_argument("--jacobian-samples", type=int, default=None, metavar="N",
                    help="mean singular value of each linear layer's Jacobian at N samples "
                         "(default: 2 for the built-in network, 0 = off for a target)")
    dg.add_argument("--json", metavar="PATH", help="also write statistics and verdicts")
    dg.add_argument("--out", metavar="PATH", help="also write a self-contained HTML report "
                    "(the default run writes PATH's stem + -standard / -normalized)")

    rp = sub.add_parser("reproduce", help="rerun a classic initialization result")
    rp.add_argument("name", nargs="?", default=None, help="see --list")
    rp.add_argument("--list", action="store_true", help="list the reproductions")
    rp.add_argument("--smoke", action="store_true", help="a seconds-long smoke run")
    rp.add_argument("--out", default=None, help="directory for results.csv/.md (default "
                    "docs/results/NAME)")

    t = sub.add_parser("theory", help="mean-field critical point, depth scales, phase diagram")
    t.add_argument("activation", help=f"one of: {', '.join(activation_names())}")
    t.add_argument("--param", type=float, default=None, help="slope / alpha / beta")
    t.add_argument("--sigma-b2", type=float, default=0.0, help="bias variance (default 0)")
    t.add_argument("--out", default=None, help="phase diagram file (default phase_ACT.png)")
    t.add_argument("--resolution", type=_positive, default=100)

    f = sub.add_parser("fans", help="fans of a weight shape")
    f.add_argument("shape", type=_ints, help="e.g. 64,32,3,3")
    f.add_argument("--layout", default="torch", choices=LAYOUTS)
    f.add_argument("--groups", type=_positive, default=1)
    f.add_argument("--splits", type=_positive, default=1)
    return p


def _demo(args: argparse.Namespace) -> int:
    from ._demo import DemoConfig, measure
    from ._demo_render import render

    config = DemoConfig(
        depth=args.depth,
        width=args.width,
        batch=args.batch,
        activations=tuple(a.strip() for a in args.activations.split(",") if a.strip()),
        seed=args.seed,
    )
    if args.json:
        _writable_file(args.json, "--json")
    results = measure(config)
    render(config, results)
    if args.json:
        rows = [row for r in results for row in r.records()]
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
    return 0


def _gain(args: argparse.Namespace) -> int:
    act = resolve_activation(args.activation, args.param)
    for criterion in ("forward", "backward", "torch"):
        try:
            value = f"{gain_of(act, criterion):.6f}"
        except ValueError:
            value = "(not defined by torch)"
        print(f"{act.name:>16}  {criterion:<8}  {value}")
    return 0


def _build(target: str) -> Any:
    """The model ``module:callable`` builds; every way the user's code fails is a user
    error naming the target."""
    import importlib

    import torch

    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise UserError(
            f"target must be module:callable, e.g. my_pkg.models:build; got {target!r}"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # ImportError, or any error the module raises on import
        raise UserError(f"cannot import {module_name!r} for target {target!r}: "
                        f"{type(e).__name__}: {e}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise UserError(f"{target!r}: {module_name} has no callable {attr!r}")
    try:
        model = factory()
    except Exception as e:
        raise UserError(f"target {target!r} raised while building the model: "
                        f"{type(e).__name__}: {e}") from None
    if not isinstance(model, torch.nn.Module):
        raise UserError(f"target {target!r} returned a {type(model).__name__}, not a "
                        "torch.nn.Module")
    return model


def _check_input(target: str, model: Any, x: Any) -> None:
    """Run the model once on ``x`` (no gradients, buffers restored) so that an input
    shape it does not take is a user error before the diagnosis starts."""
    import torch

    from ._state import buffers_kept

    try:
        with torch.no_grad(), buffers_kept(model):
            model(x)
    except Exception as e:
        raise UserError(f"target {target!r} does not take input of shape "
                        f"{tuple(x.shape)} (batch, *--input-shape): {type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''}") from None


def _diagnose(args: argparse.Namespace) -> int:
    import torch

    from .diagnostics import diagnose
    from .model import initialize

    if args.json:
        _writable_file(args.json, "--json")
    if args.out:
        _writable_file(args.out, "--out")
    if args.jacobian_samples is not None and args.jacobian_samples < 0:
        raise UserError(f"--jacobian-samples must be >= 0; got {args.jacobian_samples}")
    gen = torch.Generator().manual_seed(args.seed)
    if args.target is None:
        # Glorot & Bengio 2010: 5 hidden layers of 1000 tanh units on 32 x 32 images.
        runs = []
        for scheme, label in (("glorot_standard", "standard"), ("xavier", "normalized")):
            layers: list[torch.nn.Module] = []
            for i in range(5):
                layers += [torch.nn.Linear(1024 if i == 0 else 1000, 1000), torch.nn.Tanh()]
            net = torch.nn.Sequential(*layers, torch.nn.Linear(1000, 9))
            runs.append((f"Glorot & Bengio 5 x 1000 tanh, {label} init ({scheme})", net, scheme,
                         (args.batch, 1024), label))
    else:
        if args.input_shape is None:
            raise UserError("give --input-shape for a model target (e.g. 3,32,32)")
        model = _build(args.target)
        shape = (args.batch, *args.input_shape)
        _check_input(args.target, model, torch.randn(shape, generator=torch.Generator()))
        runs = [(args.target, model, args.scheme, shape, "")]
    problems, payload = False, []
    for title, net, scheme, shape, label in runs:
        if scheme:
            initialize(net, scheme, seed=args.seed)
        x = torch.randn(shape, generator=gen)
        samples = args.jacobian_samples
        if samples is None:  # the built-in job shows Glorot & Bengio's 0.5 vs 0.8
            samples = 2 if args.target is None else 0
        d = diagnose(net, x, seed=args.seed, jacobian_samples=samples)
        print(f"== {title}\n{d}\n")
        if args.out:
            out = Path(args.out)
            if label:
                out = out.with_name(f"{out.stem}-{label}{out.suffix or '.html'}")
            d.to_html(out, title=title)
            print(f"report written to {out}")
        problems |= not d.healthy
        payload.append({"model": title, "layers": d.to_records(),
                        "verdicts": [v.__dict__ for v in d.verdicts]})
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=1, default=str)
    return PROBLEMS if problems else OK


def _reproduce(args: argparse.Namespace) -> int:
    from .reproduce import REPRODUCTIONS, expected_time, get, run

    if args.list or args.name is None:
        for name, (_, line) in REPRODUCTIONS.items():
            print(f"{name:<16} {line} (full run: {expected_time(name)})")
        print("\nOn 2 CPU cores; --smoke runs any of them in seconds.")
        return 0
    module = get(args.name)
    out = args.out or f"docs/results/{args.name}"
    _writable_dir(out, "--out")
    config = module.Config.smoke() if args.smoke else module.Config()
    if not args.smoke:
        print(f"{args.name}: a full run takes {expected_time(args.name)} on 2 CPU cores "
              "(--smoke: seconds)", flush=True)
    from .reproduce._progress import shown

    start = time.perf_counter()
    with shown():
        result = run(args.name, config, out=out)
    result.command = "initscope reproduce " + args.name + (" --smoke" if args.smoke else "")
    result.seconds = time.perf_counter() - start
    result.write(out)
    print(result.markdown())
    print(f"written to {out}/")
    return 0


def _theory(args: argparse.Namespace) -> int:
    from .report.plots import phase_diagram
    from .theory import meanfield as mf

    act = resolve_activation(args.activation, args.param)
    out = args.out or f"phase_{act.key or act.name}.png"
    _writable_file(out, "--out")
    crit = mf.critical_sigma_w2(act, args.sigma_b2)
    print(f"{act.name}: critical sigma_w2 = {crit:.6f} at sigma_b2 = {args.sigma_b2:g} "
          f"(weights N(0, {crit:.4g} / fan_in) sit at the edge of chaos)")
    print(f"{'sigma_w2':>10} {'q*':>10} {'chi_1':>8} {'xi_c':>10} {'depth ~6 xi_c':>14}  phase")
    unstable = 0
    for factor in (0.8, 0.95, 1.0, 1.05, 1.25):
        try:
            d = mf.depth_scales(act, crit * factor, args.sigma_b2)
        except ValueError:
            print(f"{crit * factor:>10.4f}  (signal vanishes or explodes)")
            unstable += factor in (0.95, 1.05)
            continue
        print(f"{crit * factor:>10.4f} {d.q_star:>10.4g} {d.chi1:>8.4f} {d.xi_c:>10.4g} "
              f"{d.trainable_depth:>14.4g}  {d.phase}")
    if unstable == 2:
        print(f"note: {act.name}'s critical point is degenerate: at sigma_w2 = {crit:.4g} every "
              "length is a fixed point (the length map is the identity), and 5% off it the "
              "signal vanishes or explodes geometrically instead of settling; any "
              "sigma_b2 > 0 leaves no finite fixed point at chi_1 = 1")
    phase_diagram(act, resolution=args.resolution, out=out)
    print(f"phase diagram written to {out}")
    return 0


def _fans(args: argparse.Namespace) -> int:
    print(fans(args.shape, layout=args.layout, groups=args.groups, splits=args.splits))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"demo": _demo, "gain": _gain, "fans": _fans, "theory": _theory,
               "diagnose": _diagnose, "reproduce": _reproduce}[args.command]
    try:
        return handler(args)
    except (UserError, ValueError, TypeError) as e:
        # initscope validates what it is given with ValueError/TypeError naming the bad
        # value: the user's to fix
        if not isinstance(e, UserError) and not _raised_by_validation(e):
            return _internal(args.command, e)
        print(f"initscope {args.command}: error: {e}", file=sys.stderr)
        return USER_ERROR
    except BrokenPipeError:  # `initscope ... | head`: the reader left; nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OK
    except KeyboardInterrupt:
        raise
    except Exception as e:
        return _internal(args.command, e)


def _raised_by_validation(e: BaseException) -> bool:
    """Whether ``e`` was raised by initscope's own code (its validation), not by a
    library below it (a bug to report)."""
    tb = e.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last is not None and os.path.dirname(__file__) in last


def _internal(command: str, e: BaseException) -> int:
    traceback.print_exception(e)
    print(f"initscope {command}: internal error ({type(e).__name__}); please report it "
          "with the traceback above", file=sys.stderr)
    return INTERNAL_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
