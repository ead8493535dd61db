"""Start a whole simulated store, write its gateway config, and the ``silentcommerce sim`` command.

``start_store(store_file)`` starts every device the store file implies (see :mod:`simulators.storeplan`)
on raw PTYs in one I/O thread, the Modbus I/O board behind a null modem, and places the stock on the
shelves. The returned :class:`RunningStore` knows each device's URL (a PTY path, or ``socket://`` with
``socket_ports=True``) and plays scenarios on its :class:`simulators.world.World`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from simulators.demo import demo_scenario, initial_stock
from simulators.devices import CardReaderDevice, PoleDisplayDevice, SerialDevice, UhfReaderDevice
from simulators.errors import SimulatorError
from simulators.gatewayconfig import write_gateway_config
from simulators.hub import DeviceHub
from simulators.modbus_device import ModbusIoDevice
from simulators.noise import NoiseProfile, static_stock, store_categories
from simulators.scenario import Note, Scenario, TimedStep
from simulators.storeplan import StorePlan, demo_store_path, load_store_plan
from simulators.world import World, run_scenario

_D = TypeVar("_D", bound=SerialDevice)

__all__ = ["DeviceEndpoint", "RunningStore", "app", "run", "start_store", "write_gateway_config"]


@dataclass(frozen=True, slots=True)
class DeviceEndpoint:
    """Where a gateway reaches one simulated device."""

    name: str
    kind: str  # uhf | card | display | modbus
    protocol: str
    zone: str | None
    path: str  # the PTY a gateway on this machine opens
    baudrate: int
    antenna: int
    socket_url: str | None = None  # socket://127.0.0.1:PORT when served over TCP

    @property
    def url(self) -> str:
        """What goes into a gateway config: the socket URL if there is one, else the PTY path."""
        return self.socket_url or self.path


@dataclass
class RunningStore:
    plan: StorePlan
    hub: DeviceHub
    world: World
    endpoints: dict[str, DeviceEndpoint]
    devices: dict[str, SerialDevice]
    io: ModbusIoDevice | None = None
    static_tags: dict[str, str] = field(default_factory=dict)
    """EPC hex → zone of the noise profile's static tags by the gate."""
    noise: NoiseProfile | None = None
    _stopped: bool = field(default=False, repr=False)

    def paths(self) -> dict[str, str]:
        """Device name → URL for a gateway config."""
        return {name: endpoint.url for name, endpoint in self.endpoints.items()}

    def uhf(self, name: str) -> UhfReaderDevice:
        return self._device(name, UhfReaderDevice)

    def card_reader(self, name: str) -> CardReaderDevice:
        return self._device(name, CardReaderDevice)

    def display(self, name: str) -> PoleDisplayDevice:
        return self._device(name, PoleDisplayDevice)

    def _device(self, name: str, kind: type[_D]) -> _D:
        device = self.devices.get(name)
        if not isinstance(device, kind):
            raise SimulatorError(f"no {kind.__name__} named {name!r}; devices: {sorted(self.devices)}")
        return device

    def play(self, scenario: Scenario, **options: Any) -> int:
        """Run ``scenario`` on this store's world (options as :func:`simulators.world.run_scenario`)."""
        return run_scenario(scenario, self.world, **options)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.io is not None:
            self.io.stop()
        self.hub.stop()

    def __enter__(self) -> RunningStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_store(
    store_file: Path | str | StorePlan,
    *,
    socket_ports: bool = False,
    seed: int = 0,
    miss_rate: float = 0.0,
    noise: NoiseProfile | None = None,
    stock: bool = True,
) -> RunningStore:
    """Start every device of the store and put its stock on the shelves (``stock``: the store file's items).

    With a ``noise`` profile the UHF readers miss, overhear neighbouring zones and repeat frames as it says,
    and its static tags stand by the gate (:attr:`RunningStore.static_tags`)."""
    plan = store_file if isinstance(store_file, StorePlan) else load_store_plan(store_file)
    device_noise = noise.device_noise(store_categories(plan)) if noise is not None else None
    hub = DeviceHub()
    devices: dict[str, SerialDevice] = {}
    endpoints: dict[str, DeviceEndpoint] = {}
    io: ModbusIoDevice | None = None
    try:
        for spec in plan.devices():
            if spec.kind == "modbus":
                modem = hub.add_null_modem()
                io = ModbusIoDevice(spec.name)
                io.serve(modem.device_path)
                path = modem.host_path
            else:
                device: SerialDevice
                if spec.kind == "uhf":
                    device = UhfReaderDevice(spec.name, seed=seed, miss_rate=miss_rate, noise=device_noise)
                elif spec.kind == "card":
                    device = CardReaderDevice(spec.name, "rdm6300", seed=seed)
                else:
                    device = PoleDisplayDevice(spec.name)
                devices[spec.name] = device
                path = hub.attach(device).path
            socket_url = f"socket://127.0.0.1:{hub.expose_tcp(path)}" if socket_ports else None
            endpoints[spec.name] = DeviceEndpoint(
                spec.name, spec.kind, spec.protocol, spec.zone, path, spec.baudrate, spec.antenna, socket_url
            )
        uhf_by_zone = {spec.zone: spec.name for spec in plan.devices() if spec.kind == "uhf" and spec.zone}
        world = World(devices, uhf_by_zone, io, neighbours=plan.neighbours() if noise is not None else None)
        if stock:
            world.place({z: e for z, e in initial_stock(plan, seed).items() if z in uhf_by_zone})
        static = static_stock(plan, noise, seed) if noise is not None else {}
        world.place({z: e for z, e in static.items() if z in uhf_by_zone})
        hub.start()
    except BaseException:
        if io is not None:
            io.stop()
        hub.stop()
        raise
    running = RunningStore(plan, hub, world, endpoints, devices, io)
    running.static_tags = {epc: zone for zone, epcs in static.items() for epc in epcs}
    running.noise = noise
    return running


def _device_table(running: RunningStore) -> Table:
    table = Table(title=f"Simulated devices of {running.plan.name or running.plan.store_id}")
    for column in ("device", "protocol", "zone", "url", "baud"):
        table.add_column(column)
    for endpoint in running.endpoints.values():
        table.add_row(
            endpoint.name, endpoint.protocol, endpoint.zone or "", endpoint.url, str(endpoint.baudrate)
        )
    return table


def run(
    store_file: Path | str | None = None,
    *,
    seed: int = 0,
    shoppers: int = 3,
    loop: bool = False,
    speed: float = 1.0,
    socket_ports: bool = False,
    gateway_config: Path | None = None,
    mqtt: dict[str, Any] | None = None,
    gateway: str = "gw1",
    console: Console | None = None,
) -> int:
    """Start the store, print its device URLs (and write a gateway config), play the demo scenario with a
    progress display, and stop cleanly on Ctrl-C. Returns the number of steps played."""
    console = console or Console()
    plan = load_store_plan(store_file or demo_store_path())
    scenario = demo_scenario(seed, shoppers, loop=loop, store=plan)
    with start_store(plan, socket_ports=socket_ports, seed=seed) as running:
        console.print(_device_table(running))
        if gateway_config is not None:
            written = write_gateway_config(running, gateway_config, mqtt=mqtt or {}, gateway=gateway)
            console.print(f"gateway config written to {written}")
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task(scenario.name, total=scenario.duration or 1.0)

            def on_step(current: Scenario, timed: TimedStep) -> None:
                if timed is current.steps[0]:
                    progress.reset(task, total=current.duration or 1.0, description=current.name)
                progress.update(task, completed=timed.at)
                if isinstance(timed.step, Note):
                    progress.update(task, description=f"{current.name}: {timed.step.text}")

            try:
                played = running.play(scenario, speed=speed, loop=loop, on_step=on_step)
            except KeyboardInterrupt:
                console.print("stopping")
                return 0
        for name, device in running.devices.items():
            if isinstance(device, PoleDisplayDevice) and device.history:
                console.print(f"{name} showed: " + " | ".join(" / ".join(lines) for lines in device.history))
    return played


app = typer.Typer(no_args_is_help=True, add_completion=False, help="Simulated readers, sensors and displays.")


@app.callback()
def _group() -> None:
    """Simulated readers, sensors and displays on virtual serial ports, driven by store scenarios."""


@app.command("run")
def run_command(
    store_file: Annotated[
        Path | None, typer.Argument(help="store file (TOML); default: the demo store")
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the scenario")] = 0,
    shoppers: Annotated[int, typer.Option(help="shoppers per round")] = 3,
    loop: Annotated[bool, typer.Option(help="keep playing new rounds")] = False,
    speed: Annotated[float, typer.Option(help="times real time")] = 1.0,
    socket_ports: Annotated[
        bool, typer.Option(help="also serve each device on socket://127.0.0.1:PORT")
    ] = False,
    gateway_config: Annotated[Path | None, typer.Option(help="write a gateway config here")] = None,
    gateway: Annotated[str, typer.Option(help="gateway id in that config")] = "gw1",
    mqtt_host: Annotated[str, typer.Option()] = "127.0.0.1",
    mqtt_port: Annotated[int, typer.Option()] = 1883,
    mqtt_username: Annotated[str | None, typer.Option()] = None,
    mqtt_password_file: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Start the store's virtual devices, print their ports, and play the demo scenario (Ctrl-C stops)."""
    mqtt: dict[str, Any] = {"host": mqtt_host, "port": mqtt_port}
    if mqtt_username:
        mqtt["username"] = mqtt_username
    if mqtt_password_file:
        mqtt["password_file"] = mqtt_password_file.resolve()
    try:
        run(
            store_file,
            seed=seed,
            shoppers=shoppers,
            loop=loop,
            speed=speed,
            socket_ports=socket_ports,
            gateway_config=gateway_config,
            mqtt=mqtt,
            gateway=gateway,
        )
    except SimulatorError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command("evaluate")
def evaluate_command(
    profile: Annotated[
        str, typer.Option(help="noise profile: a TOML file, or a name in simulators/profiles (default, clean, harsh)")
    ] = "default",
    seed: Annotated[int, typer.Option(help="seed of the script and the noise")] = 0,
    exits: Annotated[int, typer.Option(help="passages through the exit gate", min=1)] = 1000,
    store_file: Annotated[
        Path | None, typer.Option(help="store file with lanes, members and an [[exits]] gate")
    ] = None,
    workdir: Annotated[Path, typer.Option(help="state and logs of the run")] = Path(".run/evaluate"),
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write the figures as JSON here (default: WORKDIR/report.json)")
    ] = None,
    check: Annotated[bool, typer.Option(help="exit non-zero when a target is missed")] = False,
) -> None:
    """Run K seeded exits through the real pipeline (devices, gateway, broker, ingest) and measure the
    decisions: basket precision and recall, alarm recall, false alarms, latency."""
    from silentcommerce.evaluate import (
        EVAL_STORE,
        EvaluateOptions,
        load_profile,
        report_table,
        run_evaluation,
        write_json,
    )

    console = Console()
    try:
        noise = load_profile(profile)
        options = EvaluateOptions(workdir=workdir, profile=noise, seed=seed, exits=exits,
                                  store_file=(store_file or EVAL_STORE).resolve())
        report, _ = run_evaluation(options, progress=lambda text: console.print(f"[dim]{text}[/dim]"))
    except SimulatorError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    console.print(report_table(report))
    written = write_json(report, json_out or workdir / "report.json")
    console.print(f"figures written to {written}")
    misses = report.misses()
    for miss in misses:
        console.print(f"[red]target missed:[/red] {miss}")
    if check and misses:
        raise typer.Exit(1)


@app.command("quarter")
def quarter_command(
    db: Annotated[str, typer.Option(help="database URL, e.g. sqlite:///.run/store.db (migrated first)")],
    store_file: Annotated[Path | None, typer.Option(help="store file (TOML); default: the demo store")] = None,
    seed: Annotated[int, typer.Option(help="seed of the members and their rhythms")] = 1,
    weeks: Annotated[int, typer.Option(help="weeks to simulate", min=1)] = 13,
    members: Annotated[int, typer.Option(help="generated members besides the store file's", min=0)] = 40,
    start: Annotated[
        str | None, typer.Option(help="first day (YYYY-MM-DD, UTC); default: so that the quarter ends this week")
    ] = None,
) -> None:
    """Fast-forward a quarter of members' shopping through ingest's persistence and the member rules, so the
    dashboard shows history: purchase cycles, personal lists every 14 days, redeemed offers, a campaign,
    put-backs and disputes."""
    from datetime import UTC, date, datetime, timedelta
    from decimal import Decimal

    from ingest.db.engine import make_engine
    from ingest.db.migrate import upgrade
    from ingest.storefile import StoreFileError, load_store_file
    from simulators.quarter import QuarterSettings, run_quarter
    from simulators.quarter_figures import store_figures

    if start is None:
        today = datetime.now(UTC).date()
        first = today - timedelta(days=today.weekday(), weeks=weeks)
    else:
        first = date.fromisoformat(start)
    try:
        plan = load_store_file(store_file or demo_store_path())
    except StoreFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    engine = make_engine(db)
    upgrade(engine)
    settings = QuarterSettings(seed=seed, weeks=weeks, generated_members=members,
                               start=datetime(first.year, first.month, first.day, tzinfo=UTC))
    report = run_quarter(engine, plan, settings)
    with engine.connect() as conn:
        figures = store_figures(conn, report.store, report.start, report.end)
    table = Table(title=f"{report.store}: {report.start:%Y-%m-%d} to {report.end:%Y-%m-%d}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rates = [r.rate for r in figures.retention if r.rate is not None]
    for name, value in (
        ("members (joined, churned)", f"{report.members} ({report.joined}, {report.churned})"),
        ("visits / sales", f"{report.visits} / {report.transactions}"),
        ("revenue / saved by offers", f"{report.revenue} / {report.saved}"),
        ("lists / offers / redeemed", f"{report.lists} / {report.offers} / {report.redeemed}"),
        ("put-backs", str(report.put_backs)),
        ("disputes", ", ".join(report.disputes) or "none"),
        ("acquisition rate", str(figures.acquisition_rate)),
        ("unit acquisition cost", str(figures.unit_acquisition_cost)),
        ("weekly retention (mean)", str((sum(rates, Decimal(0)) / len(rates)).quantize(rates[0])) if rates else "n/a"),
        ("funnel entered/picked/basket/paid",
         f"{figures.funnel.entered}/{figures.funnel.picked}/{figures.funnel.basket}/{figures.funnel.paid}"),
        ("revenue share of top 20 % members", str(figures.pareto.member_share)),
        ("revenue share of top 20 % products", str(figures.pareto.product_share)),
    ):
        table.add_row(name, value)
    Console().print(table)


@app.command("chain")
def chain_command(
    stores: Annotated[int, typer.Option(help="stores in the chain", min=1)] = 20,
    gateways: Annotated[int, typer.Option(help="gateways per store", min=1, max=16)] = 4,
    duration: Annotated[float, typer.Option(help="seconds the shoppers run", min=1.0)] = 120.0,
    workdir: Annotated[Path, typer.Option(help="store files, outboxes, database and logs of the run")] = Path(
        ".run/chain"),
    db: Annotated[
        str | None, typer.Option(help="database URL (default: SQLite in WORKDIR), e.g. postgresql+psycopg://…")
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the stores' shoppers")] = 0,
    ingest_workers: Annotated[
        int, typer.Option(min=0, help="ingest worker processes sharing every store; 0: one ingest per store")
    ] = 2,
    shoppers: Annotated[int, typer.Option(help="shoppers per round in each store", min=1)] = 6,
    dashboard: Annotated[int | None, typer.Option(help="also start the dashboard on this port")] = None,
    tsdb: Annotated[bool, typer.Option(help="start VictoriaMetrics if installed")] = True,
) -> None:
    """Run a chain of simulated stores on this machine, each with its gateways' real outbox, publisher and
    MQTT path, through the broker into ingest; print each store's batches published and stored,
    transactions and alarms. Exits 1 if a batch was lost or stored twice."""
    from silentcommerce.chain import ChainError, ChainOptions, ChainProgress, run_chain

    console = Console()
    options = ChainOptions(stores=stores, gateways=gateways, duration_s=duration, workdir=workdir, db_url=db,
                           seed=seed, ingest_workers=ingest_workers, dashboard_port=dashboard, tsdb=tsdb,
                           shoppers=shoppers)

    def show(p: ChainProgress) -> None:
        console.print(f"[dim]{p.elapsed_s:6.0f} s {p.phase}: {p.published} batches published, {p.stored} stored, "
                      f"{p.transactions} transactions, {p.alarms} alarms[/dim]")

    try:
        report = run_chain(options, lambda text: console.print(f"[dim]{text}[/dim]"), show)
    except ChainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        typer.echo("stopped before the end: no figures", err=True)
        raise typer.Exit(130) from None
    console.print(chain_table(report))
    cpu = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in report.cpu_s.items())
    behind = f" (simulated {report.simulated_s:.0f} s: the machine fell behind)" \
        if report.simulated_s < report.seconds - 1.0 else ""
    console.print(f"{report.seconds:.0f} s of shoppers{behind}, {report.reads_per_s:,.0f} reads/s; ingest: "
                  f"{report.ingest_mode} on {report.database}; CPU: {cpu}")
    if report.failed:
        total = report.total
        console.print(f"[red]{total.lost} batches lost, {total.duplicates} stored twice[/red]")
        raise typer.Exit(1)


def chain_table(report: Any) -> Table:
    """One row per store and a total: what the gateways published and what the database holds."""
    table = Table(title=f"{len(report.stores)} stores × {report.gateways} gateways, {report.seconds:.0f} s")
    for column in ("store", "published", "stored", "lost", "duplicates", "reads", "transactions", "alarms"):
        table.add_column(column, justify="left" if column == "store" else "right")
    for figures in [*report.stores, report.total]:
        table.add_row(figures.store, *(str(getattr(figures, name)) for name in (
            "published", "stored", "lost", "duplicates", "reads", "transactions", "alarms")),
            style="bold" if figures.store == "total" else None)
    return table
