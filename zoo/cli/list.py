"""zoo-list: prints registered models, tasks, strategies, and where each came from.

    zoo-list
    zoo-list --plugins=my_pkg.my_task
"""
import dataclasses


from zoo.cli import common

common.declare_shared_flags(__name__, "plugins")


def main(argv):
    from zoo.cli.devices import report_devices
    report_devices()  # (before TensorFlow's first use: no CUDA noise where there is no GPU)
    from plugins import MODELS, TASKS
    from zoo.train.distribute import STRATEGIES
    common.load_plugins_reporting()
    print("models:")
    for name, spec in MODELS.items():
        print(f"  {name:<14} {spec.family:<16} {spec.description}   [{MODELS.source(name)}]")
    print("tasks:")
    for name, task in TASKS.items():
        options = ", ".join(f"{f.name}={f.default}" for f in dataclasses.fields(task.config_class))
        print(f"  {name:<14} families: {', '.join(task.families)}; fields: "
              f"{', '.join(task.fields_for(task.config_class()))}; signatures: "
              f"{', '.join(task.signature_names + ('tokenize',))}; options: {options or 'none'}   "
              f"[{TASKS.source(name)}]")
    print(f"strategies: {', '.join(STRATEGIES)}")


def run():
    common.run_app(main)


if __name__ == "__main__":
    run()
