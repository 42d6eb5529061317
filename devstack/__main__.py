"""`make up` / `python -m devstack`: everything Herald needs, in the foreground, stopped cleanly by Ctrl-C.

With nothing configured it starts the Temporal dev server (file-backed) and an embedded PostgreSQL under
HERALD_DATA_DIR; with DATABASE_URL or TEMPORAL_ADDRESS set it uses those instead. It then applies the
migrations and runs one worker and the API as child processes. Channels with no vendor configured (SMTP, the
SMS, push and chat gateways) go to local catchers that keep every message under HERALD_DATA_DIR, shown at
/ui/outbox.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from core.secrets import admin_key, webhook_secret
from core.settings import Settings
from core.temporal import ensure_search_attributes
from devstack import gateway_catcher
from devstack.gateway_catcher import GatewayCatcher
from devstack.mail_catcher import MailCatcher
from devstack.mail_catcher import wanted as mail_catcher_wanted
from devstack.ports import PortTaken, ensure_free, split_address
from devstack.temporal_server import die_with_parent, start_dev_server, wait_until_free, wait_until_serving
from store.migrate import migrate_url

log = logging.getLogger("herald.up")
ROOT = Path(__file__).resolve().parent.parent


def stop(process: subprocess.Popen[bytes], name: str, timeout_s: float = 15) -> None:
    if process.poll() is not None:
        return
    log.info("stopping %s", name)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop in %.0fs; killing it", name, timeout_s)
        process.kill()
        process.wait()


async def main() -> int:
    settings = Settings()
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "logs").mkdir(exist_ok=True)
    key = admin_key(settings)
    signing_secret = webhook_secret(settings)
    wants_catcher = mail_catcher_wanted(dict(os.environ))
    caught_channels = gateway_catcher.wanted(dict(os.environ))
    gateway_port = gateway_catcher.port(dict(os.environ))
    smtp_host, smtp_port = ("127.0.0.1", settings.mail_catcher_port) if wants_catcher else \
        (settings.smtp_host, settings.smtp_port)
    metrics_address = settings.worker_metrics_address or "127.0.0.1:9464"
    # Checked before anything starts, so a taken port leaves nothing to clean up.
    if wants_catcher:
        ensure_free(smtp_host, smtp_port, "mail catcher", "HERALD_MAIL_CATCHER_PORT")
    if caught_channels:
        ensure_free("127.0.0.1", gateway_port, "SMS, push and chat catcher", "HERALD_GATEWAY_CATCHER_PORT")
    # A killed `make up`'s worker drains its sends for up to the graceful shutdown before it lets go of this port.
    ensure_free(*split_address(metrics_address), "worker metrics", "HERALD_WORKER_METRICS_ADDRESS",
                grace_s=settings.graceful_shutdown_s + 5)

    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    pg_server = None
    catcher: MailCatcher | None = None
    gateways: GatewayCatcher | None = None
    try:
        if wants_catcher:
            catcher = MailCatcher(data_dir / "mail", smtp_host, smtp_port)
            catcher.start()
        if caught_channels:
            gateways = GatewayCatcher(data_dir, "127.0.0.1", gateway_port, signing_secret, caught_channels)
            gateways.start()
        if settings.database_url:
            db_url = settings.database_url
        else:
            import pgserver

            pg_server = pgserver.get_server(data_dir / "pg", cleanup_mode="stop")  # type: ignore[attr-defined]
            db_url = str(pg_server.get_uri())
            log.info("embedded PostgreSQL running from %s", data_dir / "pg")
        applied = await migrate_url(db_url)
        log.info("migrations applied now: %s", applied or "none (up to date)")

        temporal_address = settings.temporal_address
        if temporal_address is None:
            temporal_address = f"127.0.0.1:{settings.temporal_port}"
            wait_until_free(settings.temporal_port)
            server = start_dev_server(data_dir / "temporal.db", settings.temporal_port, settings.temporal_ui_port,
                                      data_dir / "logs" / "temporal.log")
            children.append(("Temporal dev server", server))
            client = await wait_until_serving(temporal_address, server)
        else:
            client = await wait_until_serving(temporal_address, None)
        await ensure_search_attributes(client, settings.temporal_namespace)

        env = {**os.environ, "DATABASE_URL": db_url, "TEMPORAL_ADDRESS": temporal_address,
               "HERALD_ADMIN_KEY": key, "HERALD_DATA_DIR": str(data_dir),
               "HERALD_WEBHOOK_SECRET": signing_secret,
               # The simulated channel, for trying every delivery path by hand; production leaves it off.
               "HERALD_SIM_ENABLED": os.environ.get("HERALD_SIM_ENABLED", "true")}
        if catcher is not None:
            env.update(HERALD_SMTP_HOST=smtp_host, HERALD_SMTP_PORT=str(smtp_port))
        if gateways is not None:
            env.update({f"HERALD_{channel.upper()}_WEBHOOK_URL": gateways.url(channel) for channel in caught_channels})
        if catcher is not None or gateways is not None:
            # Only a stack with catchers has an outbox to show: the API serves /ui/outbox when this is set.
            env["HERALD_CATCHER_DIR"] = str(data_dir)
        wait_until_free(settings.api_port)
        worker_env = {**env, "HERALD_WORKER_METRICS_ADDRESS": metrics_address}
        worker = subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env=worker_env, cwd=ROOT,
                                  preexec_fn=die_with_parent,
                                  start_new_session=True)
        children.append(("worker", worker))
        api = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "api.app:app",
                                "--host", settings.api_host, "--port", str(settings.api_port),
                                "--log-level", "warning", "--timeout-graceful-shutdown",
                                str(int(settings.graceful_shutdown_s))],
                               env=env, cwd=ROOT, start_new_session=True, preexec_fn=die_with_parent)
        children.append(("API", api))

        base = f"http://{settings.api_host}:{settings.api_port}"
        ui = f"http://127.0.0.1:{settings.temporal_ui_port}" if settings.temporal_address is None else "(external)"
        mail = (f"caught on {smtp_host}:{smtp_port}, kept in {data_dir / 'mail'}" if catcher
                else f"sent through {smtp_host}:{smtp_port}")
        caught = (f"{', '.join(caught_channels)} caught on 127.0.0.1:{gateway_port}, kept in "
                  f"{', '.join(str(data_dir / channel) for channel in caught_channels)}" if gateways
                  else "sent through the configured gateways")
        outbox = f"{base}/ui/outbox" if catcher or gateways else "(no catchers: every channel is configured)"
        print(f"""
Herald is up.
  API          {base}
  API docs     {base}/docs
  Dashboard    {base}/ui  (sign in with the admin key below)
  Temporal UI  {ui}
  Metrics      {base}/metrics (API), http://{worker_env["HERALD_WORKER_METRICS_ADDRESS"]}/metrics (worker)
  Admin key    {key}
  Mail         {mail}
  Gateways     {caught}
  Outbox       {outbox}  (what the catchers caught)
  Data         {data_dir}

Try:  curl -s -H "Authorization: Bearer {key}" {base}/ready
Stop: Ctrl-C
""", flush=True)

        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        while not stopping.is_set():
            dead = [name for name, p in children if p.poll() is not None]
            if dead:
                log.error("%s exited; stopping everything", ", ".join(dead))
                return 1
            try:
                await asyncio.wait_for(stopping.wait(), timeout=1)
            except TimeoutError:
                pass
        return 0
    finally:
        # API first (no new work), then the worker (drains), then Temporal, then PostgreSQL.
        for name, process in reversed(children):
            stop(process, name, settings.graceful_shutdown_s + 5)
        if pg_server is not None:
            log.info("stopping embedded PostgreSQL")
            pg_server.cleanup()
        if catcher is not None:
            catcher.stop()
        if gateways is not None:
            gateways.stop()
        log.info("stopped")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every pg_ctl call at INFO
    try:
        sys.exit(asyncio.run(main()))
    except (PortTaken, gateway_catcher.BadSetting) as refused:
        print(refused, file=sys.stderr, flush=True)
        sys.exit(2)
