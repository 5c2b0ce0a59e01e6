"""The modules that make up the `evenet` command line, one per stage, in help order.

Each defines ``register(commands)``: it adds its subcommand(s) to the argparse subparsers and
sets ``handler`` (a function of the parsed arguments returning the exit status) on each.
Adding a command (``evenet sample``, ``evenet report``) is one line here. The modules import
only argparse-level code at the top: a command loads torch, uproot or Pythia only when run.
"""

COMMAND_MODULES = (
    "evenet.generation.cli",  # generate
    "evenet.io.cli",  # convert, dataset, stats
    "evenet.model.cli",  # model
    "evenet.train.cli",  # pretrain, finetune, predict
    "evenet.sampling.cli",  # sample
    "evenet.stats.cli",  # bumphunt
    "evenet.bench.cli",  # bench generate | convert | loader | train | model
    "evenet.report.cli",  # report
)
