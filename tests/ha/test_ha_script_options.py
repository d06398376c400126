"""vrrp_script options read from a configuration file and applied: ``timeout``, ``weight N reverse``,
``init_fail``, ``rise``, the per-instance ``track_script`` weight that overrides the script's, and ``user``
(the script really runs under that uid; root only)."""
from __future__ import annotations

import asyncio
import os
import pwd

import pytest
from vrrp_sim import make_router

from fastlb.ha.conf_model import TrackedScript
from fastlb.ha.conf_parser import parse_config
from fastlb.ha.daemon import script_tracker
from fastlb.ha.tracking import ScriptState

CONF = """
global_defs {{
    script_user root
    enable_script_security
}}
vrrp_script chk_slow {{
    script "/bin/sh -c 'sleep 5'"
    interval 2
    timeout 0.4
    weight -10
}}
vrrp_script chk_rev {{
    script "/bin/true"
    weight 10 reverse
}}
vrrp_script chk_init {{
    script "/bin/true"
    init_fail
    rise 2
    weight -30
}}
vrrp_script chk_over {{
    script "/bin/true"
    weight -60
}}
{extra_scripts}
vrrp_instance U {{
    virtual_router_id 42
    priority 100
    unicast_src_ip 192.0.2.1
    unicast_peer {{
        192.0.2.2
    }}
    virtual_ipaddress {{
        192.0.2.10/24
    }}
    track_script {{
        chk_slow
        chk_rev
        chk_init
        chk_over weight 25
{extra_tracks}
    }}
}}
"""


def load(tmp_path, extra_scripts: str = "", extra_tracks: str = ""):
    path = tmp_path / "keepalived.conf"
    path.write_text(CONF.format(extra_scripts=extra_scripts, extra_tracks=extra_tracks))
    config = parse_config(str(path))
    assert config.exit_code == 0, [str(m) for m in config.messages]
    return config


def test_options_are_read(tmp_path):
    config = load(tmp_path)
    scripts = {s.name: s for s in config.scripts}
    slow, rev, init = scripts["chk_slow"], scripts["chk_rev"], scripts["chk_init"]
    assert (slow.interval, slow.timeout, slow.effective_timeout, slow.weight) == (2.0, 0.4, 0.4, -10)
    assert slow.command.argv == ("/bin/sh", "-c", "sleep 5")
    assert (rev.weight, rev.weight_reverse) == (10, True)
    assert (init.init_fail, init.rise, init.fall, init.weight) == (True, 2, 1, -30)
    (inst,) = config.instances
    assert inst.track_scripts == (
        TrackedScript("chk_slow", -10), TrackedScript("chk_rev", 10, reverse=True),
        TrackedScript("chk_init", -30), TrackedScript("chk_over", 25),  # the instance's weight wins
    )


def test_options_are_applied_to_the_instance(tmp_path):
    config = load(tmp_path)
    (cfg,) = config.instances
    router, host, _loop = make_router(cfg, start=False)
    trackers = {}
    history: list[int] = []

    def changed(script, state) -> None:
        host.scripts[script.name] = state
        router.tracking_changed()
        history.append(router.effective_priority)

    for script in config.scripts:
        trackers[script.name] = script_tracker(script, changed)
        host.scripts[script.name] = trackers[script.name].state
    assert host.scripts["chk_init"] is ScriptState.FAILED  # init_fail: failed before the first run
    router.start()
    assert router.effective_priority == 70  # 100 - 30 (chk_init), the others have no result yet

    async def run() -> float:
        loop = asyncio.get_running_loop()
        for tracker in trackers.values():
            tracker.start()
        started = loop.time()
        while loop.time() - started < 5 and trackers["chk_init"].state is not ScriptState.OK:
            await asyncio.sleep(0.05)
        elapsed = loop.time() - started
        await asyncio.sleep(0.2)
        for tracker in trackers.values():
            await tracker.stop()
        return elapsed

    init_ok_after = asyncio.run(run())
    states = {name: t.state for name, t in trackers.items()}
    assert states == {"chk_slow": ScriptState.FAILED, "chk_rev": ScriptState.OK, "chk_init": ScriptState.OK,
                      "chk_over": ScriptState.OK}
    assert 0.8 < init_ok_after < 3.0  # init_fail + rise 2: two successes, one interval apart
    # chk_slow killed by its 0.4 s timeout (-10), chk_rev OK with reverse (-10), chk_over +25, chk_init OK (0)
    assert router.effective_priority == 105
    assert history[-1] == 105 and min(history) < 70  # on the way, both negative weights applied


@pytest.mark.skipif(os.geteuid() != 0, reason="running a script as another user needs root")
def test_script_user_is_applied(tmp_path):
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user on this machine")
    check = f"/bin/sh -c '[ $(id -u) = {nobody.pw_uid} ] && [ $(id -g) = {nobody.pw_gid} ]'"
    extra = f"""
vrrp_script chk_as_nobody {{
    script "{check}"
    user nobody
}}
vrrp_script chk_as_root {{
    script "{check}"
}}
"""
    config = load(tmp_path, extra, "        chk_as_nobody\n        chk_as_root")
    scripts = {s.name: s for s in config.scripts}
    assert (scripts["chk_as_nobody"].command.uid, scripts["chk_as_nobody"].command.gid) == (nobody.pw_uid,
                                                                                           nobody.pw_gid)

    async def once(name: str) -> bool:
        return await script_tracker(scripts[name], lambda s, state: None).run_once()

    assert asyncio.run(once("chk_as_nobody")) is True
    assert asyncio.run(once("chk_as_root")) is False
