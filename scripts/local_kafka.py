#!/usr/bin/env python3
"""A single-node Apache Kafka broker (KRaft) from Maven Central jars, for tests and the demo.

    python scripts/local_kafka.py provision   # resolve the jars once (cached in .cache/kafka)
    python scripts/local_kafka.py start       # format storage, start, wait, print bootstrap
    python scripts/local_kafka.py status      # print the bootstrap address if running
    python scripts/local_kafka.py stop        # stop it cleanly

Standard library only, so it runs before the virtual environment exists. The pytest session
fixture imports ``start_broker`` from here.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POM = ROOT / "scripts" / "kafka" / "pom.xml"
LOG4J = ROOT / "scripts" / "kafka" / "log4j2.properties"
CACHE = ROOT / ".cache" / "kafka"
JARS = CACHE / "jars"
RUN = CACHE / "run"


def provision() -> Path:
    """Resolve the broker's jars with Maven once; later calls reuse the cache."""
    marker = JARS / ".complete"
    if marker.exists() and marker.read_text() == POM.read_text():
        return JARS
    mvn = shutil.which("mvn")
    if mvn is None or shutil.which("java") is None:
        msg = "Java 17+ and Maven are needed to provision Kafka (apt-get install maven)"
        raise RuntimeError(msg)
    shutil.rmtree(JARS, ignore_errors=True)
    JARS.mkdir(parents=True)
    print(f"provisioning Apache Kafka jars into {JARS} ...", file=sys.stderr, flush=True)
    subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={JARS}",
            "-DincludeScope=runtime",
        ],
        check=True,
    )
    marker.write_text(POM.read_text())
    return JARS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


@dataclass
class Broker:
    """A running broker started by this script."""

    bootstrap: str
    process: subprocess.Popen[bytes]
    workdir: Path

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the broker to shut down (SIGTERM), and kill it if it will not."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_broker(workdir: Path, *, timeout: float = 90.0) -> Broker:
    """Format fresh KRaft storage under ``workdir`` and start a broker on free ports."""
    jars = provision()
    port, controller = _free_port(), _free_port()
    data = workdir / "data"
    shutil.rmtree(data, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "server.properties"
    config.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{controller}",
                f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={data}",
                "num.partitions=1",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=3",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "transaction.state.log.num.partitions=3",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "log.cleaner.backoff.ms=1000",
                "",
            ]
        )
    )
    classpath = f"{jars}/*"
    java_opts = [
        "-Xms256m",
        "-Xmx768m",
        "-XX:+UseSerialGC",
        f"-Dkafka.logs.dir={workdir}",
        f"-Dlog4j2.configurationFile={LOG4J}",
    ]
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    subprocess.run(
        [
            "java",
            *java_opts,
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(config),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    out = (workdir / "broker.out").open("wb")
    process = subprocess.Popen(
        ["java", *java_opts, "-cp", classpath, "kafka.Kafka", str(config)],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    out.close()
    broker = Broker(f"127.0.0.1:{port}", process, workdir)
    deadline = time.monotonic() + timeout
    while not _answers(port):
        if process.poll() is not None:
            tail = (workdir / "broker.out").read_text(errors="replace")[-2000:]
            msg = f"Kafka exited with {process.returncode} before answering:\n{tail}"
            raise RuntimeError(msg)
        if time.monotonic() > deadline:
            broker.stop()
            msg = f"Kafka did not answer on 127.0.0.1:{port} within {timeout:.0f}s"
            raise RuntimeError(msg)
        time.sleep(0.2)
    return broker


def _cmd_start() -> int:
    if (RUN / "bootstrap").exists() and _answers(
        int((RUN / "bootstrap").read_text().split(":")[1])
    ):
        print((RUN / "bootstrap").read_text())
        return 0
    broker = start_broker(RUN)
    (RUN / "pid").write_text(str(broker.process.pid))
    (RUN / "bootstrap").write_text(broker.bootstrap)
    print(broker.bootstrap)
    return 0


def _cmd_stop() -> int:
    pid_file = RUN / "pid"
    if not pid_file.exists():
        print("local Kafka is not running", file=sys.stderr)
        return 0
    pid = int(pid_file.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    (RUN / "bootstrap").unlink(missing_ok=True)
    return 0


def _cmd_status() -> int:
    boot = RUN / "bootstrap"
    if boot.exists() and _answers(int(boot.read_text().split(":")[1])):
        print(boot.read_text())
        return 0
    print("local Kafka is not running", file=sys.stderr)
    return 1


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("command", choices=["provision", "start", "stop", "status"])
    args = parser.parse_args()
    if args.command == "provision":
        print(provision())
        return 0
    return {"start": _cmd_start, "stop": _cmd_stop, "status": _cmd_status}[args.command]()


if __name__ == "__main__":
    sys.exit(main())
