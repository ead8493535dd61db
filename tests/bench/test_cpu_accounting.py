"""The scaling bench's CPU accounting: a process tree's CPU time is every live process in it plus the children
they have already reaped (PostgreSQL's ended backends, for one), and nothing outside it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from silentcommerce.bench.rig import pid_cpu_seconds, tree_cpu_seconds

BURN = "import time\nwhile time.process_time() < 0.3: pass\n"
"""Use 0.3 s of CPU, however long the machine takes to give it."""

TREE = textwrap.dedent(f"""
    import subprocess, sys
    burn = {BURN!r}
    subprocess.run([sys.executable, "-c", burn], check=True)  # exits and is reaped
    live = subprocess.Popen([sys.executable, "-c", burn + "print('ready', flush=True); import time; time.sleep(60)"],
                            stdout=subprocess.PIPE, text=True)
    print(live.stdout.readline().strip(), flush=True)
    live.wait()
""")


def test_a_tree_counts_its_live_and_reaped_descendants_and_not_its_neighbours() -> None:
    root = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True)
    neighbour = subprocess.Popen([sys.executable, "-c", BURN.replace("0.3", "1.5") + "print('ready', flush=True)\n"
                                  "import time; time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        for process in (root, neighbour):
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        cpu = tree_cpu_seconds({"tree": [root.pid], "neighbour": [neighbour.pid], "nothing": [], "gone": [2**22 + 1]})
        # the reaped child's 0.3 s and the live one's 0.3 s (/proc counts whole ticks), not the root's own
        assert cpu["tree"] - pid_cpu_seconds(root.pid) >= 0.56
        assert cpu["neighbour"] >= 1.45
        assert cpu["tree"] < 0.6 + pid_cpu_seconds(root.pid) + 1.0  # the neighbour's 1.5 s is not in it
        assert (cpu["nothing"], cpu["gone"]) == (0.0, 0.0)
    finally:
        for process in (root, neighbour):
            process.kill()
            process.wait()
