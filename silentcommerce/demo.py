"""``silentcommerce demo``: the demo store, started on this machine, with shoppers, until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from silentcommerce.localstore import LocalStore, LocalStoreConfig, LocalStoreError, redacted


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class DemoError(RuntimeError):
    """The demo could not start or a service died; the message names it and its log."""


def run_demo(*, workdir: Path, port: int, shoppers: int, loop: bool, seed: int, store_file: Path | None = None,
             db_url: str | None = None) -> None:
    from simulators.demo import demo_scenario
    from simulators.scenario import Note, Scenario, TimedStep
    from simulators.storeplan import demo_store_path, load_store_plan

    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop ends the store like Ctrl-C does
    console = Console()
    store_path = store_file or demo_store_path()
    config = LocalStoreConfig(workdir=workdir, store_file=store_path, dashboard_port=port, seed=seed, db_url=db_url)
    store = LocalStore(config)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task("starting the store", total=None)
        try:
            store.start(lambda step: progress.update(task, description=f"starting {step}"))
        except LocalStoreError as exc:
            raise DemoError(str(exc)) from None
    try:
        assert store.credentials is not None
        logins = store.credentials.dashboard_logins
        console.print(Panel.fit(
            f"[bold]Dashboard[/bold]  {store.dashboard_url}\n"
            f"operator login  [bold]operator[/bold] / {logins['operator']}\n"
            f"admin login     [bold]admin[/bold] / {logins['admin']}\n"
            f"database        {redacted(store.db_url)}\n"
            f"logs and state  {workdir}/\n"
            "Ctrl-C stops the store.",
            title="Silent Commerce demo store", border_style="green",
        ))
        plan = load_store_plan(store_path)
        scenario = demo_scenario(seed, shoppers, loop=loop, store=plan)
        stop = threading.Event()
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task(scenario.name, total=scenario.duration or 1.0)

            def on_step(current: Scenario, timed: TimedStep) -> None:
                store.check()
                if timed is current.steps[0]:
                    bar.reset(task, total=current.duration or 1.0, description=current.name)
                bar.update(task, completed=timed.at)
                if isinstance(timed.step, Note):
                    bar.update(task, description=f"{current.name}: {timed.step.text}")

            assert store.sim is not None
            store.sim.play(scenario, loop=loop, on_step=on_step, wait=stop.wait)
        if not loop:
            console.print("scenario finished; the store keeps running until Ctrl-C")
            stop.wait()
    except KeyboardInterrupt:
        console.print("stopping the store")
    except LocalStoreError as exc:
        raise DemoError(str(exc)) from None
    finally:
        store.stop()
