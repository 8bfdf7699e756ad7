"""Warm starts for ``lume-services agent``: flow-run processes forked from a pre-imported one.

Prefect's ``LocalAgent`` starts every flow run as a new ``python -m prefect
execute flow-run`` process: the interpreter starts, imports Prefect and the
modules a run of a lume-services flow needs, then loads the run's flow. On this
kind of machine that is 0.7-0.9 s before the run's first request, most of a
short flow of flows' time.

:class:`WarmStarter` (the agent's side) starts one **zygote**: a
single-threaded Python process that imports Prefect, its CLI and lume-services'
flow modules once (:data:`PRELOAD`), says it is ready, then waits. For each
flow run the agent sends it the run's environment and working directory (what
Prefect's agent would give the new process, from its ``populate_env_vars``), and
the zygote forks. The forked process, before anything reads the configuration:

- takes the run's environment (``os.environ`` replaced as a whole), working
  directory and import path (its working directory and ``PYTHONPATH`` first, as
  a new ``python -m`` process has them);
- builds Prefect's configuration again from that environment with Prefect's
  own loader (``prefect.configuration.load_configuration``, the same files and
  ``PREFECT__*`` variables Prefect's import reads: ``PREFECT__CONTEXT__FLOW_RUN_ID``,
  ``PREFECT__CLOUD__API``, the API key, the agent's labels...) and puts it into
  ``prefect.config`` in place (as Prefect's ``set_temporary_config`` does), then
  ``prefect.context`` and Prefect's logger afresh from it;
- reseeds what a fork would otherwise share (``random`` reseeds itself; NumPy's
  global generator, when imported);
- runs Prefect's own ``prefect execute flow-run`` command (its click command,
  in this process) and exits through the interpreter's normal exit, so
  Prefect's exit hooks (its log manager's last upload) run as in a new process.

Nothing runs in the zygote itself, so no state of one run reaches another:
each run is a copy of the zygote as it was after its imports. What a fork
keeps of the zygote's start are the interpreter's own options: those given
by ``PYTHON*`` variables (``PYTHONHASHSEED``, ``PYTHONWARNINGS``, ...) are the
agent's, not the run's.

The zygote reaps its forks and sends each one's exit code back to the agent
(:class:`WarmProcess` answers ``poll()`` and ``returncode`` as the ``Popen``
the agent keeps would). When the zygote is not ready, has exited, or a
request to it fails, the agent starts the run as Prefect's agent does (a new
process): a warm start is only ever a shortcut. It is on by default in
``lume-services agent``; ``LUME_PREFECT__AGENT__WARM_START=false`` (or
``--no-warm-start``) turns it off. A run whose ``PYTHONPATH`` brings other
versions of Prefect or lume-services than the agent's gets the agent's (the
zygote imported them): turn warm starts off for such runs' agent.

Kept here rather than in a library: the standard library's
``multiprocessing`` fork server ends each fork with ``os._exit`` (skipping the
exit hook by which Prefect uploads a run's last logs), re-runs the parent's
main module in every fork and gives the fork the parent's environment and
working directory; no maintained package forks Prefect 1 flow runs.
"""

import gc
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Tuple, cast

#: what the zygote imports before it says it is ready: what ``prefect execute
#: flow-run`` and the runs of lume-services flows (single flows, composed flows
#: of flows and their in-process children) import
PRELOAD = (
    "prefect",
    "prefect.cli",
    "prefect.engine.cloud",
    "prefect.backend",
    "prefect.tasks.prefect",
    "cloudpickle",
    "filelock",
    "netrc",
    "difflib",
    "shlex",
    "lume_services.flows.flow",
    "lume_services.flows.flow_of_flows",
    "lume_services.flows._child_runs",
    "lume_services.flows._child_in_process",
    "lume_services.flows._compose_per_child",
    "lume_services.services.scheduling.backends.server.private_store",
    "lume_services.services.results.sqlite",
)

READY = b"ready"
#: seconds the agent waits for the zygote's answer to a request (the fork's pid)
ANSWER_TIMEOUT = 10.0
#: seconds the agent waits for a zygote still importing before it starts a run as a new process
READY_TIMEOUT = 30.0
#: the largest request (a run's environment) the zygote reads
MAX_REQUEST = 4 * 1024 * 1024


class WarmStartUnavailable(RuntimeError):
    """The zygote could not fork a run (not started, gone, or it refused): start a new process instead."""


class WarmProcess:
    """A flow run forked by the zygote, seen as the ``Popen`` Prefect's agent keeps for a run.

    Attributes:
        pid: the run's process id.
        returncode: its exit code once it ended (negative: the signal that ended it), else ``None``.
    """

    def __init__(self, pid: int, answers: socket.socket):
        self.pid = pid
        self.returncode: Optional[int] = None
        self._answers = answers
        self._lock = threading.Lock()  # the agent's heartbeat polls, its watcher waits

    def poll(self) -> Optional[int]:
        """The exit code once the run ended (the zygote sends it), else ``None``; never waits."""
        with self._lock:
            if self.returncode is not None or self._answers.fileno() < 0:
                if self.returncode is None and not _alive(self.pid):  # an orphan since its zygote went
                    self.returncode = 0  # unknown: the zygote that would have told it is gone
                return self.returncode
            try:
                data = self._answers.recv(4096, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return None
            except OSError:
                data = b""
            if data:
                self.returncode = int(json.loads(data)["returncode"])
            elif _alive(self.pid):  # the zygote is gone: the run is an orphan now, still running
                self._answers.close()
                return None
            else:
                self.returncode = 0  # unknown: the zygote that would have told it is gone
            self._answers.close()
            return self.returncode

    def wait(self) -> int:
        """Wait for the run to end and return its exit code, as ``Popen.wait`` does."""
        while self.poll() is None:
            if self._answers.fileno() >= 0:
                try:  # wakes when the zygote sends the code or goes away
                    select.select([self._answers], [], [], 1.0)
                except (OSError, ValueError):  # closed meanwhile by poll() in another thread
                    pass
            else:  # an orphan: nobody tells when it ends
                time.sleep(0.5)
        return cast(int, self.returncode)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WarmStarter:
    """The agent's side of warm starts: starts the zygote, asks it for a forked process per run.

    Args:
        env: the zygote's environment (the agent's, with the import path its runs get).
        cwd: its working directory.
        preload: the modules it imports before it is ready.
        max_restarts: how many times a zygote that exited is started again; then
            every run starts a new process.
    """

    def __init__(self, env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None,
                 preload=PRELOAD, max_restarts: int = 3):
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.preload = tuple(preload)
        self.max_restarts = max_restarts
        self.restarts = 0
        self.process: Optional[subprocess.Popen] = None
        self._control: Optional[socket.socket] = None
        self._ready = False
        self._lock = threading.Lock()

    def start(self) -> "WarmStarter":
        """Start the zygote (it imports in the background; runs start cold until it is ready)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno()), ",".join(self.preload)],
                env=self.env, cwd=self.cwd, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self._control, self._ready = ours, False
        return self

    def ready(self, wait: float = 0.0) -> bool:
        """Whether the zygote has imported everything and still runs.

        Args:
            wait: seconds to wait for a zygote still importing (never longer
                than a new process would take to import the same).
        """
        if self.process is None or self._control is None or self.process.poll() is not None:
            return False
        with self._lock:
            if not self._ready:
                self._ready = self._read_ready(wait)
        return self._ready

    def _read_ready(self, wait: float) -> bool:
        control = self._control
        if control is None:
            return False
        try:
            if wait > 0:
                control.settimeout(wait)
                return control.recv(64) == READY
            return control.recv(64, socket.MSG_DONTWAIT) == READY
        except OSError:  # not yet (a timeout, BlockingIOError) or gone
            return False
        finally:
            control.settimeout(None)

    def exited(self) -> bool:
        """Whether the zygote was started and has exited since (crashed, killed)."""
        return self.process is not None and self.process.poll() is not None

    def restart(self) -> bool:
        """Start a zygote that exited again, at most ``max_restarts`` times; whether one was started."""
        if not self.exited() or self.restarts >= self.max_restarts:
            return False
        self.stop()
        self.restarts += 1
        self.start()
        return True

    def spawn(self, env: Dict[str, str], cwd: Optional[str] = None, show_output: bool = False) -> WarmProcess:
        """Fork a process for a flow run with ``env`` and ``cwd`` (``None``: the agent's).

        Raises:
            WarmStartUnavailable: the zygote is not ready or did not answer.
        """
        if not self.ready():
            raise WarmStartUnavailable("the zygote is not ready")
        request = json.dumps({"env": env, "cwd": cwd or os.getcwd(), "show_output": show_output}).encode()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with self._lock:
                socket.send_fds(self._control, [request], [theirs.fileno()])
            theirs.close()
            ours.settimeout(ANSWER_TIMEOUT)
            answer = ours.recv(4096)
            if not answer:
                raise WarmStartUnavailable("the zygote closed the run's socket")
            ours.settimeout(None)
            return WarmProcess(int(json.loads(answer)["pid"]), ours)
        except WarmStartUnavailable:
            ours.close()
            raise
        except (OSError, ValueError, KeyError) as exc:
            ours.close()
            theirs.close()
            raise WarmStartUnavailable(f"the zygote did not answer: {exc!r}") from exc

    def stop(self) -> None:
        """Stop the zygote (the runs it forked go on, as Prefect's agent leaves its runs' processes)."""
        if self._control is not None:
            self._control.close()
            self._control = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None
        self._ready = False


# --- the zygote --------------------------------------------------------------------------------------------


def _serve(control: socket.socket, preload: List[str]) -> Optional[Tuple[dict, socket.socket]]:
    """Import ``preload``, say ready, then fork a process per request; return only in a fork (its request)."""
    import importlib

    for name in preload:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # a run imports it itself, or fails as in a new process
            print(f"lume-services zygote: not preloaded: {name} ({exc})", file=sys.stderr)
    if threading.active_count() > 1:  # a fork copies one thread only: locks held by others stay held
        print("lume-services zygote: an import started a thread; runs start as new processes", file=sys.stderr)
        return None
    # what the imports made is never collected again: kept out of every fork's collections, whose
    # walks over it would write to (and so copy) the pages the forks share with the zygote
    gc.collect()
    gc.freeze()
    control.sendall(READY)
    runs: Dict[int, socket.socket] = {}
    while True:
        readable, _, _ = select.select([control], [], [], 0.2)
        _reap(runs)
        if not readable:
            continue
        try:
            message, fds, _, _ = socket.recv_fds(control, MAX_REQUEST, 1)
        except OSError:
            message, fds = b"", []
        if not message:  # the agent is gone: so is the zygote (its runs go on)
            return None
        if not fds:
            continue
        answers = socket.socket(fileno=fds[0])
        try:
            request = json.loads(message)
        except ValueError:
            answers.close()
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the run's process
            control.close()
            for other in runs.values():
                other.close()
            answers.close()
            return request, answers
        runs[pid] = answers
        try:
            answers.sendall(json.dumps({"pid": pid}).encode())
        except OSError:
            pass


def _reap(runs: Dict[int, socket.socket]) -> None:
    while runs:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        answers = runs.pop(pid, None)
        if answers is not None:
            try:
                answers.sendall(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}).encode())
            except OSError:
                pass
            answers.close()


def _become_run(request: dict, base_path: List[str]) -> None:
    """Turn this fork of the zygote into the run's process (see the module docstring)."""
    import signal

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    if not request.get("show_output"):
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
    os.close(devnull)
    env = request["env"]
    os.environ.clear()
    os.environ.update(env)
    cwd = request["cwd"]
    os.chdir(cwd)
    tempfile.tempdir = None  # found again from the run's TMPDIR when first needed
    time.tzset()  # the run's TZ
    # as `python -m` in ``cwd`` with the run's PYTHONPATH would have it
    python_path = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [cwd, *python_path, *(p for p in base_path if p not in python_path and p != cwd)]
    sys.argv = [sys.argv[0], "execute", "flow-run"]
    apply_run_configuration()
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()


def apply_run_configuration() -> None:
    """Build Prefect's configuration, context and logger again from this process's environment.

    What importing Prefect does in a new process, with Prefect's own loader:
    the configuration files (``PREFECT__USER_CONFIG_PATH``,
    ``PREFECT__BACKEND_CONFIG_PATH`` or Prefect's defaults) and every
    ``PREFECT__*`` variable, put into ``prefect.config`` in place (modules that
    hold the object see the new values), then ``prefect.context`` made afresh
    from it and the ``prefect`` logger configured again.
    """
    import logging

    import prefect
    from prefect import configuration
    from prefect.utilities import logging as prefect_logging
    from prefect.utilities.context import Context

    # the loggers the zygote's import configured, given their handlers again below
    configured = ["prefect", *prefect.config.logging.get("extra_loggers", [])]
    loaded = configuration.load_configuration(
        path=configuration.DEFAULT_CONFIG,
        user_config_path=os.getenv("PREFECT__USER_CONFIG_PATH", "~/.prefect/config.toml"),
        backend_config_path=os.getenv("PREFECT__BACKEND_CONFIG_PATH", "~/.prefect/backend.toml"),
        env_var_prefix=configuration.ENV_VAR_PREFIX,
    )
    loaded = configuration.process_task_defaults(loaded)
    prefect.config.clear()
    prefect.config.update(loaded)
    prefect.context.clear()
    prefect.context.update(dict(Context()))
    for name in configured:
        logging.getLogger(name).handlers.clear()
    prefect.context.logger = prefect_logging.configure_logging()
    prefect_logging.configure_extra_loggers()


def main() -> None:
    """The zygote's program: ``python -m`` this module ``<control socket's descriptor> <module,module,...>``."""
    control = socket.socket(fileno=int(sys.argv[1]))
    preload = [n for n in (sys.argv[2] if len(sys.argv) > 2 else "").split(",") if n]
    python_path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    base_path = [p for p in sys.path[1:] if p not in python_path]
    forked = _serve(control, preload)
    if forked is None:
        return
    request, _ = forked
    _become_run(request, base_path)
    from prefect.cli import cli

    cli.main(args=["execute", "flow-run"], prog_name="prefect")  # exits (SystemExit) with the run's code


if __name__ == "__main__":
    main()
