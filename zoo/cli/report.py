"""zoo-report: writes report.html and report.svg for a model_dir.

    zoo-report --model_dir=runs/a
"""
from zoo.cli import common

common.declare_shared_flags(__name__, "model_dir")


def main(argv):
    from absl import flags

    from zoo.evaluate.report import write_report
    print(f"report: {write_report(flags.FLAGS.model_dir)}")


def run():
    common.run_app(main)


if __name__ == "__main__":
    run()
