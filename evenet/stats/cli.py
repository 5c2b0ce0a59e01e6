"""`evenet bumphunt`: the mass-only bump hunt on one column (evenet.stats.bumphunt)."""

from __future__ import annotations

import json

from evenet import arguments


def register(commands) -> None:
    parser = commands.add_parser(
        "bumphunt",
        help="mass-only bump hunt: sideband polynomial fit, signal-region excess, Z",
        parents=[arguments.json_output()],
    )
    parser.add_argument("--input", required=True, help="CSV or Parquet file, or a dataset folder")
    parser.add_argument(
        "--column", required=True, help="the mass column (a dataset: a globals name, M_leptons)"
    )
    parser.add_argument("--weight", help="a per-event weight column (default: unit weights)")
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="COND",
        help="keep rows with COLUMN OP NUMBER (OP: <= >= == < >), e.g. tightest_fpr<=0.1; "
        "repeatable",
    )
    parser.add_argument("--sr", type=float, nargs=2, default=(9.0, 10.6), metavar=("LO", "HI"))
    parser.add_argument("--sb", type=float, nargs=2, default=(5.0, 16.0), metavar=("LO", "HI"))
    parser.add_argument(
        "--sr-edges", type=int, default=12, help="bin edges in the SR (12: 11 bins; default 12)"
    )
    parser.add_argument("--degree", type=int, default=5, help="background polynomial degree")
    parser.add_argument(
        "--minimizer",
        choices=("newton", "nelder-mead"),
        default="newton",
        help="newton: the exact maximum-likelihood fit (default); nelder-mead: the reference "
        "code's own minimisation, for comparison",
    )
    parser.add_argument("--plot", metavar="FILE", help="also draw the spectrum (PNG + PDF)")
    parser.set_defaults(handler=run_bumphunt)


def run_bumphunt(args) -> int:
    from evenet.stats.bumphunt import bump_hunt
    from evenet.stats.bumphunt_input import bump_hunt_input

    mass, weight = bump_hunt_input(args.input, args.column, args.weight, args.where)
    result = bump_hunt(
        mass,
        weight,
        sr=tuple(args.sr),
        sb=tuple(args.sb),
        sr_edges=args.sr_edges,
        degree=args.degree,
        minimizer=args.minimizer,
    )
    result = {"input": str(args.input), "column": args.column, "where": args.where, **result}
    if args.plot:
        from evenet.stats.bumphunt_plot import plot_bump_hunt

        plot_bump_hunt(mass, weight, result, args.plot, title=f"{args.input} {args.where or ''}")
    if args.json:
        print(json.dumps(result))
        return 0
    for key in ("significance", "q0", "s", "b", "n_sr", "chi2_ndf", "converged", "iterations"):
        print(f"{key:<14}{result[key]}")
    print(f"{'theta':<14}{result['theta']}")
    print(f"{'bins':<14}{result['binning']['bins']} of {result['binning']['width_gev']:.5f} GeV")
    return 0
