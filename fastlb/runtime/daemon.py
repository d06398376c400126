"""Running as a production daemon: background mode and pidfile, systemd notifications, the
identity switch (chroot, user, group) after binding, and the file descriptor limit.

HAProxy's semantics, which fastlb keeps:
  * ``-D`` (or ``daemon``): fork once, the child starts a new session and closes stdio; the
    parent writes the child's pid to the ``-p`` pidfile before it exits, so the pidfile is in
    place when ``fastlb -D`` returns. The pidfile holds one pid: the process that answers the
    signals of ``-sf``/``-st``/``kill`` (the master; in master-worker mode too).
  * ``-db``, ``-d``, ``-W`` without ``-D``, ``-Ws``: foreground; messages go to stderr, traffic
    logs to ``log stdout``/``log stderr`` targets, which is what containers collect.
  * ``chroot``/``user``/``group``/``uid``/``gid`` apply once every socket is bound: to the whole
    process in standalone mode, to the workers only in master-worker mode (the master must stay
    able to re-execute itself and bind new addresses on reload, as HAProxy's master does).
"""
from __future__ import annotations

import grp
import os
import pwd
import resource
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

from ..config.model import GlobalSection
from .plan import FD_RESERVE


class StartupError(Exception):
    """The process cannot run as configured; the message is the alert to print."""


# -- background mode ------------------------------------------------------------------------------

def daemonize(pidfile: str | None) -> None:
    """Go to the background. Returns in the child (a new session leader, stdio on /dev/null);
    the parent writes the child's pid to `pidfile` and exits with status 0. The pidfile is
    created before the fork: OSError (nothing forked) when it cannot be, as HAProxy fails."""
    sys.stdout.flush()
    sys.stderr.flush()
    tmp = f"{pidfile}.{os.getpid()}.tmp" if pidfile else None
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644) if tmp else -1
    pid = os.fork()
    if pid > 0:
        if fd >= 0:
            os.write(fd, f"{pid}\n".encode())
            os.close(fd)
            os.replace(tmp, pidfile)
        os._exit(0)
    if fd >= 0:
        os.close(fd)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(devnull, std)
    if devnull > 2:
        os.close(devnull)


def write_pidfile(path: str, pids: list[int]) -> None:
    """Replace `path` atomically with one pid per line."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write("".join(f"{p}\n" for p in pids))
    os.replace(tmp, path)


def remove_pidfile(path: str | None, pid: int) -> None:
    """Remove `path` if it still names `pid` (a newer process may have replaced it)."""
    if not path:
        return
    try:
        with open(path) as f:
            if f.read().split() == [str(pid)]:
                os.unlink(path)
    except OSError:
        pass


# -- systemd ----------------------------------------------------------------------------------------

def sd_notify(state: str) -> bool:
    """Send `state` (``READY=1``, ``RELOADING=1``...) to systemd's $NOTIFY_SOCKET, if any.
    An abstract socket is written ``@name``. Returns True when a message was sent."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):
        path = "\0" + path[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(path)
            s.sendall(state.encode())
        return True
    except OSError:
        return False


def sd_reloading() -> bool:
    """``RELOADING=1`` with the monotonic timestamp that ``Type=notify-reload`` (systemd >= 253)
    asks for; older systemd versions ignore the extra field."""
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return sd_notify(f"RELOADING=1\nMONOTONIC_USEC={usec}")


# -- identity -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Identity:
    """Where and as whom the serving processes run. None = unchanged."""

    chroot: str | None = None
    uid: int | None = None
    gid: int | None = None

    @property
    def changes(self) -> bool:
        return self.chroot is not None or self.uid is not None or self.gid is not None


def resolve_identity(g: GlobalSection) -> Identity:
    """The identity the configuration asks for, with names resolved now (a user created after
    the configuration was checked is found). StartupError when a name does not exist: running a
    configuration that asks for another user as root would be worse than not running."""
    uid = g.uid
    gid = g.gid
    if g.user:
        try:
            uid = pwd.getpwnam(g.user).pw_uid
        except KeyError:
            raise StartupError(f"[fastlb.main()] Cannot find user id for '{g.user}': refusing to run "
                               f"as uid {os.getuid()}.") from None
    if g.group:
        try:
            gid = grp.getgrnam(g.group).gr_gid
        except KeyError:
            raise StartupError(f"[fastlb.main()] Cannot find group id for '{g.group}': refusing to run "
                               f"as gid {os.getgid()}.") from None
    return Identity(chroot=g.chroot or None, uid=uid, gid=gid)


def check_identity(ident: Identity) -> None:
    """Fail before anything starts when the switch cannot work (HAProxy's messages): a chroot
    directory that does not exist, an identity change asked of a non-root process."""
    if ident.chroot is not None and not os.path.isdir(ident.chroot):
        raise StartupError(f"[fastlb.main()] Cannot chroot({ident.chroot}).")
    euid = os.geteuid()
    if euid != 0:
        if ident.chroot is not None:
            raise StartupError(f"[fastlb.main()] Cannot chroot({ident.chroot}).")
        if ident.gid is not None and ident.gid != os.getegid():
            raise StartupError(f"[fastlb.main()] Cannot set gid {ident.gid}.")
        if ident.uid is not None and ident.uid != euid:
            raise StartupError(f"[fastlb.main()] Cannot set uid {ident.uid}.")


def apply_identity(ident: Identity) -> None:
    """chroot, then drop the supplementary groups and set the gid, then the uid (the order that
    leaves no way back). As HAProxy: ``user`` without ``group`` keeps the current gid."""
    if ident.chroot is not None:
        try:
            os.chroot(ident.chroot)
            os.chdir("/")
        except OSError:
            raise StartupError(f"[fastlb.main()] Cannot chroot({ident.chroot}).") from None
    if ident.gid is not None:
        try:
            if os.geteuid() == 0:
                os.setgroups([])
            os.setgid(ident.gid)
        except OSError:
            raise StartupError(f"[fastlb.main()] Cannot set gid {ident.gid}.") from None
    if ident.uid is not None:
        try:
            if os.geteuid() == 0 and ident.gid is None:
                os.setgroups([])
            os.setuid(ident.uid)
        except OSError:
            raise StartupError(f"[fastlb.main()] Cannot set uid {ident.uid}.") from None


def preload_for_chroot() -> None:
    """Import now what the serving processes would import lazily, and load the time zone:
    once chrooted, Python's library directory and /usr/share/zoneinfo are out of reach.
    Limit: names in ``log`` targets are resolved by the workers; inside a chroot that needs
    /etc/hosts (or DNS configuration) in the chroot, or addresses instead of names."""
    import encodings.ascii
    import encodings.idna
    import encodings.latin_1
    import encodings.utf_8  # noqa: F401
    import importlib
    import pkgutil

    import uvloop  # noqa: F401

    import fastlb

    skip = ("fastlb.ha", "fastlb.demo", "fastlb.__main__", "fastlb._http1_cffi_build")

    def walk(path: list[str], prefix: str) -> None:
        for info in pkgutil.iter_modules(path, prefix):
            if info.name.startswith(skip):
                continue
            try:
                mod = importlib.import_module(info.name)
            except ImportError:  # an optional part of the build
                continue
            if info.ispkg:
                walk(list(mod.__path__), info.name + ".")

    walk(list(fastlb.__path__), "fastlb.")
    time.localtime()
    time.strftime("%z")


# -- descriptors ------------------------------------------------------------------------------------

def raise_fd_limit(g: GlobalSection, maxconn: int | None) -> None:
    """Make room for the descriptors before the plan sizes itself. ``ulimit-n`` sets the limit
    as HAProxy does, and StartupError (HAProxy's alert) when the hard limit forbids it; without
    it, a root process raises the hard limit towards what ``maxconn`` needs (two sockets per
    proxied connection plus a reserve) so that the plan may raise the soft one up to it. Some
    machines cap the hard limit even for root: the plan then lowers the workers' share."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    conns = maxconn or g.maxconn
    if g.ulimit_n:
        want = g.ulimit_n
    elif conns:
        want = conns * 2 + FD_RESERVE
    else:
        return
    if hard != resource.RLIM_INFINITY and hard < want and os.geteuid() == 0:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, want), want))
        except (ValueError, OSError):
            pass
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if g.ulimit_n:
        if hard != resource.RLIM_INFINITY and hard < want:
            raise StartupError(f"[fastlb.main()] Cannot raise FD limit to {want}, limit is {hard}.")
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            raise StartupError(f"[fastlb.main()] Cannot raise FD limit to {want}, limit is {hard}.") from None


def apply_ulimit_n(plan: Any) -> str | None:
    """``ulimit-n`` is the limit: put the soft limit back to it if the plan raised it, and fit
    each worker's share of maxconn under it (two sockets per connection, the pipes and the
    reserve). Returns HAProxy's warning when an explicit maxconn does not fit, else None."""
    g = plan.config.global_
    if not g.ulimit_n:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != g.ulimit_n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (g.ulimit_n, hard))
    fixed = len(plan.listeners) + plan.maxpipes * 2 + FD_RESERVE
    need = plan.worker_maxconn * 2 + fixed
    if need <= g.ulimit_n:
        return None
    wanted = plan.worker_maxconn
    plan.worker_maxconn = max(1, (g.ulimit_n - fixed) // 2)
    if g.maxconn:
        return (f"[fastlb.main()] FD limit ({g.ulimit_n}) too low for maxconn={wanted}/maxsock={need}. "
                f"Please raise 'ulimit-n' to {need} or more to avoid any trouble.")
    return None


# -- process settings ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunMode:
    """How this run behaves, from the command line and the global section (the command line
    wins, as in HAProxy)."""

    daemon: bool
    master_worker: bool
    systemd: bool
    foreground: bool
    pidfile: str | None
    quiet: bool


def run_mode(opts: Any, g: GlobalSection) -> RunMode:
    foreground = bool(getattr(opts, "foreground", False) or getattr(opts, "debug", False))
    systemd = bool(getattr(opts, "systemd_notify", False))
    master_worker = bool(getattr(opts, "master_worker", False) or g.master_worker or systemd)
    daemon = bool(getattr(opts, "daemon", False) or g.daemon) and not foreground and not systemd
    return RunMode(
        daemon=daemon, master_worker=master_worker, systemd=systemd, foreground=not daemon,
        pidfile=getattr(opts, "pidfile", None) or g.pidfile,
        quiet=bool(getattr(opts, "quiet", False)) and not getattr(opts, "verbose", False),  # -V wins
    )
