"""State-change alerts: keepalived's notify scripts and built-in e-mail (``smtp_alert``).

Notify scripts get keepalived's arguments: ``notify_master`` and friends run as written, the generic
``notify`` script gets ``INSTANCE <name> <STATE> <priority>`` appended. They run in the background
(keepalived does not wait for them), except at shutdown where the STOP notifications get up to a second.

The e-mail replaces the mission's Python 2 ``mail_notify.py``: one message per transition to every
``notification_email`` address, through ``smtp_server`` (no login, as keepalived), with keepalived's
subject ``[router_id] VRRP Instance NAME - Entering MASTER state`` and a body that names the node, its
address on the instance's interface, the new state and the priority. Sending runs in a worker thread
so a slow SMTP server never delays VRRP; failures are logged, never raised.
"""
from __future__ import annotations

import asyncio
import logging
import os
import smtplib
import socket
import time
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from .conf_model import GlobalDefs, ScriptCommand, VrrpInstance

log = logging.getLogger("fastlb.ha")

_SUBJECTS = {
    "MASTER": ("Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <="),
    "BACKUP": ("Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <="),
    "FAULT": ("Entering FAULT state", "=> VRRP Instance is no longer owning VRRP VIPs <="),
    "STOP": ("Stopping", "=> VRRP Instance stopping <="),
}


def build_mail(defs: GlobalDefs, instance: VrrpInstance, state: str, priority: int, address: str,
               ifname: str) -> EmailMessage:
    subject, banner = _SUBJECTS[state]
    msg = EmailMessage()
    msg["From"] = defs.notification_email_from
    msg["To"] = ", ".join(defs.notification_email)
    msg["Subject"] = f"[{defs.router_id}] VRRP Instance {instance.name} - {subject}"
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=socket.gethostname())
    msg["X-Mailer"] = "fastlb-ha"
    vips = ", ".join(str(v) for v in instance.vips) or "(none)"
    msg.set_content(
        f"{banner}\n\n"
        f"Node:       {defs.router_id} ({socket.gethostname()})\n"
        f"Address:    {address} on {ifname}\n"
        f"Instance:   {instance.name} (virtual router {instance.vrid})\n"
        f"New state:  {state}\n"
        f"Priority:   {priority}\n"
        f"VIPs:       {vips}\n"
        f"Time:       {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n"
    )
    return msg


def send_mail(defs: GlobalDefs, msg: EmailMessage) -> None:
    """Blocking SMTP delivery (runs in a worker thread)."""
    if defs.smtp_server is None:
        return
    host, port = defs.smtp_server
    with smtplib.SMTP(host, port, local_hostname=defs.smtp_helo_name or None,
                      timeout=defs.smtp_connect_timeout) as smtp:
        smtp.send_message(msg, from_addr=defs.notification_email_from, to_addrs=list(defs.notification_email))


class Notifier:
    def __init__(self, defs: GlobalDefs) -> None:
        self.defs = defs
        self._pending: set[asyncio.Future[object]] = set()

    def state_change(self, instance: VrrpInstance, state: str, priority: int, address: str, ifname: str) -> None:
        script = {"MASTER": instance.notify_master, "BACKUP": instance.notify_backup,
                  "FAULT": instance.notify_fault, "STOP": instance.notify_stop}.get(state)
        if script is not None:
            self._spawn(script, ())
        if instance.notify is not None:
            self._spawn(instance.notify, ("INSTANCE", instance.name, state, str(priority)))
        if instance.smtp_alert:
            self._mail(instance, state, priority, address, ifname)

    def _track(self, future: asyncio.Future[object]) -> None:
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def _spawn(self, command: ScriptCommand, extra: Sequence[str]) -> None:
        self._track(asyncio.ensure_future(self._run_script(command, tuple(extra))))

    async def _run_script(self, command: ScriptCommand, extra: tuple[str, ...]) -> None:
        kwargs: dict[str, object] = {}
        if command.uid != os.geteuid():
            kwargs["user"] = command.uid
            kwargs["group"] = command.gid
        try:
            proc = await asyncio.create_subprocess_exec(*command.argv, *extra, stdin=asyncio.subprocess.DEVNULL,
                                                        start_new_session=True, **kwargs)  # type: ignore[arg-type]
            await proc.wait()
        except OSError as exc:
            log.warning("notify script %s could not run: %s", command.argv[0], exc)

    def _mail(self, instance: VrrpInstance, state: str, priority: int, address: str, ifname: str) -> None:
        if self.defs.smtp_server is None or not self.defs.notification_email:
            log.info("(%s) smtp_alert set but no smtp_server/notification_email - no mail", instance.name)
            return
        msg = build_mail(self.defs, instance, state, priority, address, ifname)
        loop = asyncio.get_running_loop()

        def deliver() -> None:
            try:
                send_mail(self.defs, msg)
                log.info("(%s) alert mail for %s sent to %s", instance.name, state, msg["To"])
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("(%s) alert mail for %s failed: %s", instance.name, state, exc)

        self._track(loop.run_in_executor(None, deliver))

    async def drain(self, timeout: float) -> None:
        """Wait for running notifications (bounded), e.g. before exiting."""
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=timeout)
