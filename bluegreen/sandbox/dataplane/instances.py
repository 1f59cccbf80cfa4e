"""Sandbox instances run their release: one gunicorn process per instance an Auto Scaling group holds.

Each `reconcile()` (the daemon calls it every ~0.25 s):

    observe: the groups and their instances (autoscaling), each new
             instance's image (ec2), through the sandbox's API like any client
    decide:  an instance a group holds (Pending, InService, Standby) runs;
             anything else (terminated, detached, its group deleted) stops
    act:     for a new instance, what EC2 would do at boot: the image's
             release from the image store (by its SourceHash tag), the
             launch template version's user data (settings, secret
             references), secrets fetched from SSM / Secrets Manager; then
             gunicorn on a free loopback port with that environment (the
             order of the unit's EnvironmentFiles: release.env, app.env,
             secrets.env). An app that exits is started again after
             RESTART_S, as systemd's Restart=always does, and is
             resolved afresh each time (a secret created later is found).

An instance that cannot start (an image never baked here, no or malformed
user data, a secret that does not resolve) never runs; `status()` says why
and it is tried again every RETRY_S. An instance counts as listening only
once its process accepts connections: gunicorn imports the app before it
binds (`--preload`), so an app that refuses to start never listens.

Processes run in their own process group and get SIGKILL when the thread
that started them dies (PR_SET_PDEATHSIG, Linux), so none outlives the
data plane even if it is killed; `close()` stops them all, bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bluegreen.adapters.toolproc import killed_with_parent
from bluegreen.sandbox.dataplane import imagestore, userdata

HOST = "127.0.0.1"
RETRY_S = 2.0  # an instance that cannot start is tried again this often
RESTART_S = 2.0  # systemd's RestartSec in the app unit
STOP_TIMEOUT_S = 15.0  # TERM, then KILL: gunicorn's graceful timeout plus margin
GRACEFUL_TIMEOUT_S = 10
CONNECT_TIMEOUT_S = 0.2
REASON_CHARS = 300
RUNS = ("Pending", "InService", "Standby", "EnteringStandby")  # lifecycle states (prefixes) that keep a process

STARTING, LISTENING, FAILED, NOT_STARTED = "starting", "listening", "failed", "not_started"


class NotStartable(Exception):
    """Why an instance cannot run: shown in status()."""


@dataclass(frozen=True)
class Held:
    """An instance as its Auto Scaling group holds it."""

    asg: str
    launch_template_id: str
    launch_template_version: str


@dataclass(frozen=True)
class Launch:
    """What an instance boots with."""

    cwd: Path
    wsgi_app: str
    env: dict[str, str]
    version: str


@dataclass
class _Instance:
    instance_id: str
    asg: str
    image: str = ""
    version: str = ""
    state: str = STARTING
    reason: str = ""
    port: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    log_offset: int = 0
    restarts: int = 0
    next_try: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "asg": self.asg,
            "image": self.image,
            "version": self.version,
            "port": self.port,
            "pid": self.proc.pid if self.proc else None,
            "state": self.state,
            "reason": self.reason,
            "restarts": self.restarts,
        }


def held_instances(groups: list[Mapping[str, Any]]) -> dict[str, Held]:
    """Instance id -> how its group holds it, for the instances that run (pure: describe_auto_scaling_groups)."""
    out: dict[str, Held] = {}
    for group in groups:
        for instance in group.get("Instances", []):
            if not str(instance.get("LifecycleState", "")).startswith(RUNS):
                continue
            template = instance.get("LaunchTemplate") or {}
            out[instance["InstanceId"]] = Held(
                asg=group["AutoScalingGroupName"],
                launch_template_id=str(template.get("LaunchTemplateId", "")),
                launch_template_version=str(template.get("Version", "")),
            )
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def accepts(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError:
        return False
    return True


@dataclass
class Instances:
    """The sandbox's instances as local processes. Single-threaded: call every method from one thread."""

    state_dir: Path
    autoscaling: Any
    ec2: Any
    ssm: Any
    secretsmanager: Any
    image_store: Path | None = None
    python: str = sys.executable
    clock: Callable[[], float] = time.monotonic
    _instances: dict[str, _Instance] = field(default_factory=dict)
    _stopping: list[tuple[subprocess.Popen[bytes], float]] = field(default_factory=list)
    _held: dict[str, Held] | None = None  # what the Auto Scaling groups held when the API was last read
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.image_store is None:
            self.image_store = imagestore.store_dir(self.state_dir)
        self.logs = self.state_dir / "sandbox" / "instances"

    # -- the loop ---------------------------------------------------------------

    def reconcile(self, *, read: bool = True) -> None:
        """Start and stop app processes to match the groups: as the API holds them now (`read`), or as last read."""
        if read or self._held is None:
            pages = self.autoscaling.get_paginator("describe_auto_scaling_groups").paginate()
            self._held = held_instances([g for page in pages for g in page.get("AutoScalingGroups", [])])
        held = self._held
        with self._lock:
            for gone in [i for i in self._instances if i not in held]:
                self._stop(self._instances.pop(gone))
            for instance_id, where in held.items():
                instance = self._instances.setdefault(instance_id, _Instance(instance_id, where.asg))
                self._step(instance, where)
        self._reap_stopping()

    def address_of(self, instance_id: str) -> tuple[str, int] | None:
        """Where the instance's app listens, or None when it does not (yet, or at all)."""
        with self._lock:
            instance = self._instances.get(instance_id)
            if instance is None or instance.state != LISTENING or instance.port is None:
                return None
            return (HOST, instance.port)

    def status(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {i: inst.as_dict() for i, inst in sorted(self._instances.items())}

    def close(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop every process (TERM, then KILL after `timeout_s`) and wait for them, bounded."""
        with self._lock:
            for instance in self._instances.values():
                self._stop(instance, timeout_s)
            self._instances.clear()
        deadline = self.clock() + timeout_s + 2.0
        while self._stopping and self.clock() < deadline:
            self._reap_stopping()
            time.sleep(0.05)
        for proc, _ in self._stopping:
            _kill_group(proc, signal.SIGKILL)
            proc.wait(timeout=2.0)
        self._stopping.clear()

    # -- one instance -------------------------------------------------------------

    def _step(self, instance: _Instance, where: Held) -> None:
        now = self.clock()
        if instance.proc is None:
            if now >= instance.next_try:
                self._start(instance, where)
            return
        code = instance.proc.poll()
        if code is not None:
            _kill_group(instance.proc, signal.SIGKILL)  # workers of a master that died
            instance.state = FAILED
            instance.reason = f"the app exited with code {code}: {self._log_reason(instance)} (restarting)"
            instance.proc, instance.port = None, None
            instance.restarts += 1
            instance.next_try = now + RESTART_S
        elif instance.state == STARTING and instance.port is not None and accepts(instance.port):
            instance.state, instance.reason = LISTENING, ""

    def _start(self, instance: _Instance, where: Held) -> None:
        try:
            launch = self._resolve(instance, where)
        except NotStartable as e:
            instance.state, instance.reason = NOT_STARTED, str(e)
            instance.next_try = self.clock() + RETRY_S
            return
        instance.version = launch.version
        self.logs.mkdir(parents=True, exist_ok=True)
        log_path = self.logs / f"{instance.instance_id}.log"
        port = free_port()
        with open(log_path, "ab") as log:
            instance.log_offset = log.tell()
            instance.proc = subprocess.Popen(
                self._argv(instance, launch, port),
                cwd=launch.cwd,
                env=launch.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=killed_with_parent,  # only prctl runs in the child: libc is loaded already
            )
        instance.port = port
        instance.state = STARTING
        instance.reason = "" if instance.restarts == 0 else instance.reason

    def _argv(self, instance: _Instance, launch: Launch, port: int) -> list[str]:
        return [
            self.python,
            "-m",
            "gunicorn",
            "--preload",  # import the app before binding: an app that refuses to start never listens
            "--bind",
            f"{HOST}:{port}",
            "--workers",
            launch.env.get("WORKERS", "1"),
            "--threads",
            "8",
            "--graceful-timeout",
            str(GRACEFUL_TIMEOUT_S),
            "--no-control-socket",
            "--error-logfile",
            "-",
            "--name",
            f"bluegreen-sandbox-{instance.instance_id}",
            launch.wsgi_app,
        ]

    def _resolve(self, instance: _Instance, where: Held) -> Launch:
        """What EC2 boots the instance with; NotStartable says why it cannot boot."""
        instance.image = instance.image or self._image_of(instance.instance_id)
        entry = self._entry(instance.image)
        data = self._user_data(where)
        if not data.starts_app:
            raise NotStartable(f"its user data does not start {userdata.APP_UNIT} (runcmd)")
        secrets = {name: self._secret(name, ref) for name, ref in data.secrets.items()}
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",  # the image store is the image: read-only
            **entry.release_env,
            **data.settings,
            **secrets,
        }
        return Launch(cwd=entry.app_dir, wsgi_app=entry.wsgi_app, env=env, version=entry.version)

    def _image_of(self, instance_id: str) -> str:
        try:
            reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        except ClientError as e:
            raise NotStartable(f"ec2 describe-instances {instance_id}: {_error(e)}") from None
        for reservation in reservations:
            for found in reservation.get("Instances", []):
                return str(found["ImageId"])
        raise NotStartable(f"instance {instance_id} is not known to EC2")

    def _entry(self, image: str) -> imagestore.ImageEntry:
        try:
            images = self.ec2.describe_images(ImageIds=[image])["Images"]
        except ClientError as e:
            raise NotStartable(f"image {image}: {_error(e)}") from None
        tags = {t["Key"]: t["Value"] for image_ in images for t in image_.get("Tags", [])}
        source_hash = tags.get("SourceHash", "")
        if not source_hash:
            raise NotStartable(f"image {image} has no SourceHash tag: it was not baked by bluegreen")
        assert self.image_store is not None
        try:
            entry = imagestore.lookup(self.image_store, source_hash)
        except imagestore.ImageStoreError as e:
            raise NotStartable(str(e)) from None
        if entry is None:
            raise NotStartable(
                f"image {image} (source {source_hash[:12]}) was never baked in this sandbox: "
                f"no entry in {self.image_store}"
            )
        return entry

    def _user_data(self, where: Held) -> userdata.UserData:
        if not where.launch_template_id:
            raise NotStartable(f"group {where.asg} launched it without a launch template")
        try:
            versions = self.ec2.describe_launch_template_versions(
                LaunchTemplateId=where.launch_template_id, Versions=[where.launch_template_version]
            )["LaunchTemplateVersions"]
        except ClientError as e:
            raise NotStartable(f"launch template {where.launch_template_id}: {_error(e)}") from None
        encoded = versions[0].get("LaunchTemplateData", {}).get("UserData", "") if versions else ""
        template = f"launch template {where.launch_template_id} version {where.launch_template_version}"
        if not encoded:
            raise NotStartable(f"{template} has no user data: nothing starts {userdata.APP_UNIT}")
        try:
            return userdata.parse(userdata.decode(encoded))
        except userdata.UserDataError as e:
            raise NotStartable(f"{template}: {e}") from None

    def _secret(self, name: str, ref: userdata.SecretRef) -> str:
        try:
            if ref.kind == "ssm":
                return str(self.ssm.get_parameter(Name=ref.name, WithDecryption=True)["Parameter"]["Value"])
            answer = self.secretsmanager.get_secret_value(SecretId=ref.name)
        except ClientError as e:
            raise NotStartable(f"secret {name} ({ref}) cannot be resolved: {_error(e)}") from None
        if "SecretString" not in answer:
            raise NotStartable(f"secret {name} ({ref}) is binary; an environment variable needs a string")
        return str(answer["SecretString"])

    # -- stopping -----------------------------------------------------------------

    def _stop(self, instance: _Instance, timeout_s: float = STOP_TIMEOUT_S) -> None:
        if instance.proc is not None:
            _kill_group(instance.proc, signal.SIGTERM)  # gunicorn finishes in-flight requests on TERM
            self._stopping.append((instance.proc, self.clock() + timeout_s))
            instance.proc = None

    def _reap_stopping(self) -> None:
        still: list[tuple[subprocess.Popen[bytes], float]] = []
        for proc, deadline in self._stopping:
            if proc.poll() is not None:
                _kill_group(proc, signal.SIGKILL)  # any worker left behind
            elif self.clock() >= deadline:
                _kill_group(proc, signal.SIGKILL)
                still.append((proc, deadline + 2.0))
            else:
                still.append((proc, deadline))
        self._stopping = still

    def _log_reason(self, instance: _Instance) -> str:
        try:
            with open(self.logs / f"{instance.instance_id}.log", "rb") as log:
                log.seek(instance.log_offset)
                lines = [line.strip() for line in log.read().decode(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "no log"
        telling = [line for line in lines if "Error" in line or "refusing" in line or "Exception" in line]
        line = (telling or lines or ["no output"])[-1]
        return line[-REASON_CHARS:]


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)  # start_new_session: the group id is the master's pid


def _error(e: ClientError | BotoCoreError) -> str:
    if isinstance(e, ClientError):
        err = e.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".rstrip(": ")
    return str(e)
