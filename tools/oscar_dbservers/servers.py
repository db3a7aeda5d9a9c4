"""Private MariaDB and PostgreSQL servers: start, reuse, make databases in, stop.

A server NAME lives in ``<state root>/NAME/``:

    state.json   kind, port, user, password (root only, mode 0600)
    my.cnf       MariaDB's configuration (PostgreSQL's is in the data directory)
    data/        the data directory of a durable server, owned by the server's system user
    run/         unix socket, pid file and the server's log

A server that is not durable (the default) trades crash safety for speed,
as throw-away test servers may: no fsync, and its data directory in memory
(MEMORY_ROOT, a tmpfs), where PostgreSQL creates a database in
milliseconds instead of a third of a second.

Run as root, the servers run as Debian's ``mysql`` and ``postgres`` users
(PostgreSQL refuses to run as root); run as another user, they run as that
user.  They listen on 127.0.0.1 on a free TCP port and on a unix socket in
run/, and allow MAX_CONNECTIONS clients, enough for 64 writers at once.
"""

import collections
import contextlib
import fcntl
import hashlib
import importlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time

from oscar_dbservers import prerequisites
from oscar_dbservers.errors import DbServerError, ServerExistsError, ServerStartError, UnknownServerError
from oscar_testbed import commands
from oscar_testbed.errors import CommandError, PrerequisiteError

KINDS = ("mariadb", "postgresql")
STATE_ENV = "OSCAR_DBSERVERS_STATE"
USER = "oda"
DATABASE = "oda"
HOST = "127.0.0.1"
MEMORY_ROOT = "/dev/shm/oscar-dbservers"
MAX_CONNECTIONS = 300
START_TIMEOUT = 120
STOP_TIMEOUT = 60

NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,31}")
# Database names go into CREATE DATABASE as identifiers: letters, digits, '_' only.
DATABASE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,62}")

# What a test needs to reach one database: its ODA URL (no password in it),
# the password, and the database's name on the server.
DatabaseAccess = collections.namedtuple("DatabaseAccess", "url password name")


def default_state_root():
    configured = os.environ.get(STATE_ENV)
    if configured:
        return configured
    if os.geteuid() == 0:
        return "/var/lib/oscar-dbservers"
    return os.path.join(
        os.environ.get("XDG_STATE_HOME", os.path.expanduser("~/.local/state")), "oscar-dbservers"
    )


def validate_name(name):
    if not NAME_PATTERN.fullmatch(name or ""):
        raise DbServerError(
            f"invalid server name '{name}': use 1-32 lower-case letters, digits or '-', "
            "starting with a letter"
        )
    return name


def validate_kind(kind):
    if kind not in KINDS:
        raise DbServerError(f"unknown server kind '{kind}': expected one of {', '.join(KINDS)}")
    return kind


def validate_database_name(name):
    if not DATABASE_PATTERN.fullmatch(name or ""):
        raise DbServerError(
            f"invalid database name '{name}': use 1-63 lower-case letters, digits or '_', "
            "starting with a letter"
        )
    return name


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _import_driver(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        raise PrerequisiteError(
            f"the Python package {name} is not installed: run scripts/setup (it is in requirements.txt)"
        ) from None


def _process_alive(pid, names):
    """True when process pid runs one of the named programs (not a reused pid, not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            # "pid (comm) state ...": comm may hold spaces, the state follows its last ')'.
            stat = handle.read()
    except OSError:
        return False
    name = stat[stat.find("(") + 1 : stat.rfind(")")]
    state = stat[stat.rfind(")") + 2 :][:1]
    return name in names and state != "Z"


def _read_pid(path):
    try:
        with open(path, encoding="ascii") as handle:
            return int(handle.readline().strip())
    except (OSError, ValueError):
        return None


def _wait_gone(pid, names, timeout):
    deadline = time.monotonic() + timeout
    while _process_alive(pid, names):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def _tail(path, lines=5):
    """The last lines of a log, for an error message."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return " | ".join(line.strip() for line in handle.readlines()[-lines:] if line.strip())
    except OSError:
        return "no log"


class Server:
    """One private database server, running or not, named NAME under a state root."""

    def __init__(self, name, state_root=None, log=print):
        self.name = validate_name(name)
        self.state_root = state_root or default_state_root()
        self.directory = os.path.join(self.state_root, self.name)
        self.state_file = os.path.join(self.directory, "state.json")
        self.run_dir = os.path.join(self.directory, "run")
        self.log_file = os.path.join(self.run_dir, "server.log")
        self.log = log
        self._state = None
        self._admin = None

    # --- state -----------------------------------------------------------------

    @property
    def exists(self):
        return os.path.exists(self.state_file)

    @property
    def state(self):
        if self._state is None:
            try:
                with open(self.state_file, encoding="utf-8") as handle:
                    self._state = json.load(handle)
            except FileNotFoundError:
                raise UnknownServerError(f"no database server '{self.name}' in {self.state_root}") from None
            except (OSError, ValueError) as exc:
                raise DbServerError(f"cannot read {self.state_file}: {exc}") from exc
        return self._state

    @property
    def kind(self):
        return self.state["kind"]

    @property
    def port(self):
        return self.state["port"]

    @property
    def password(self):
        return self.state["password"]

    @property
    def data_dir(self):
        return self.state["data_dir"]

    def _choose_data_dir(self, durable):
        """On disk in the server's directory when durable, else in memory when the machine has a tmpfs."""
        if durable or not os.path.isdir(os.path.dirname(MEMORY_ROOT)):
            return os.path.join(self.directory, "data")
        # Two state roots may each have a server of one name: the root's hash keeps them apart.
        root_hash = hashlib.sha256(os.path.abspath(self.state_root).encode()).hexdigest()[:8]
        return os.path.join(MEMORY_ROOT, f"{root_hash}-{self.name}")

    def _write_state(self, state):
        """Write state.json atomically, readable by its owner only: it holds the password."""
        temporary = self.state_file + ".tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2)
        os.replace(temporary, self.state_file)
        self._state = state

    def url(self, database=None):
        """The ODA URL of a database on this server (the default one when None); no password in it."""
        return f"{self.kind}://{self.state['user']}@{HOST}:{self.port}/{database or self.state['database']}"

    def access(self, database=None):
        """URL, password and name of a database on this server."""
        name = database or self.state["database"]
        return DatabaseAccess(self.url(name), self.password, name)

    @property
    def _backend(self):
        return _BACKENDS[self.kind](self)

    def is_running(self):
        # Read afresh: another process may have stopped or re-made the server.
        self._state = None
        return self.exists and self._backend.running()

    def status(self):
        return "running" if self.is_running() else "stopped"

    @contextlib.contextmanager
    def _locked(self):
        """One start or stop at a time on a state root, across processes."""
        os.makedirs(self.state_root, exist_ok=True)
        # Searchable by all: the servers' system users must reach their directories.
        os.chmod(self.state_root, 0o711)
        with open(os.path.join(self.state_root, ".lock"), "w", encoding="ascii") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # --- start and stop ----------------------------------------------------------

    def ensure(self, kind, durable=False, timeout=START_TIMEOUT):
        """Start the server unless it already runs as this kind; return self.

        A server left stopped or half-made (the machine restarted, a start
        failed) is made again from nothing: it only ever held test data.
        """
        validate_kind(kind)
        with self._locked():
            self._state = None
            if self.exists:
                if self.kind != kind:
                    raise ServerExistsError(
                        f"database server '{self.name}' exists as {self.kind}, not {kind}; "
                        f"stop it first: python -m oscar_dbservers stop {self.name}"
                    )
                if self._backend.running():
                    return self
                self.log(f"database server '{self.name}' is not running: making it again")
            self._remove()
            self._create_or_clean_up(kind, durable, timeout)
        return self

    def start(self, kind, durable=False, timeout=START_TIMEOUT):
        """Make and start a new server; ServerExistsError when one of this name exists."""
        validate_kind(kind)
        with self._locked():
            self._state = None
            if self.exists:
                raise ServerExistsError(
                    f"database server '{self.name}' already exists ({self.kind}, {self.status()})"
                )
            self._remove()
            self._create_or_clean_up(kind, durable, timeout)
        return self

    def stop(self):
        """Stop the server and remove everything it had; UnknownServerError when there is none."""
        with self._locked():
            self._state = None
            if not self.exists and not os.path.isdir(self.directory):
                raise UnknownServerError(f"no database server '{self.name}' in {self.state_root}")
            self._remove()

    def _create_or_clean_up(self, kind, durable, timeout):
        """Make the server; a start that fails leaves nothing behind (no process, no files)."""
        try:
            self._create(kind, durable, timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                self._remove()
            raise

    def _create(self, kind, durable, timeout):
        backend = _BACKENDS[kind](self)
        backend.check_prerequisites()
        os.makedirs(self.directory, mode=0o711)
        os.chmod(self.directory, 0o711)
        state = {
            "name": self.name,
            "kind": kind,
            "port": free_port(),
            "user": USER,
            "database": DATABASE,
            # Hex only: the password may then appear in SQL text without quoting worries.
            "password": secrets.token_hex(16),
            "durable": durable,
            "data_dir": self._choose_data_dir(durable),
        }
        # Written first: a half-made server is then found and removed whole.
        self._write_state(state)
        if os.path.isdir(self.data_dir):
            shutil.rmtree(self.data_dir)  # left by a server of this name that vanished
        if not durable:
            os.makedirs(os.path.dirname(self.data_dir), mode=0o711, exist_ok=True)
            os.chmod(os.path.dirname(self.data_dir), 0o711)
        for directory, mode in ((self.data_dir, 0o700), (self.run_dir, 0o755)):
            os.makedirs(directory, mode=mode)
            os.chmod(directory, mode)
            backend.give_to_server_user(directory)
        backend.check_reachable()
        backend.initialize()
        backend.start(timeout)
        backend.bootstrap()

    def _remove(self):
        self._close_admin()
        data_dir = None
        if self.exists:
            with contextlib.suppress(DbServerError, KeyError):
                self._backend.stop()
            with contextlib.suppress(DbServerError, KeyError):
                data_dir = self.data_dir
        if os.path.isdir(self.directory):
            shutil.rmtree(self.directory)
        if data_dir is not None and os.path.isdir(data_dir):
            shutil.rmtree(data_dir)
        self._state = None

    # --- databases -------------------------------------------------------------

    def _close_admin(self):
        if self._admin is not None:
            with contextlib.suppress(Exception):
                self._admin.close()
            self._admin = None

    def _admin_execute(self, sql, what):
        """Run one administrative statement (CREATE/DROP DATABASE) as the server's user."""
        for attempt in (1, 2):
            try:
                if self._admin is None:
                    self._admin = self._backend.admin_connect()
                with self._admin.cursor() as cursor:
                    cursor.execute(sql)
                return
            except PrerequisiteError:
                raise
            except Exception as exc:  # the driver's errors: one message, no driver traceback
                # A connection the server dropped (it was re-made): once more on a new one.
                self._close_admin()
                if attempt == 2:
                    raise DbServerError(f"cannot {what} on database server '{self.name}': {exc}") from None

    def create_database(self, name=None, prefix="oda_test"):
        """Create an empty database (a new unique name unless given); return its DatabaseAccess."""
        name = validate_database_name(name or f"{prefix}_{secrets.token_hex(6)}")
        if not self.is_running():
            raise DbServerError(f"database server '{self.name}' is not running")
        self._admin_execute(self._backend.create_database_sql(name), f"create database {name}")
        return self.access(name)

    def drop_database(self, name):
        """Drop a database, closing the connections still open to it."""
        name = validate_database_name(name)
        self._admin_execute(self._backend.drop_database_sql(name), f"drop database {name}")

    @contextlib.contextmanager
    def fresh_database(self, prefix="oda_test"):
        """A new empty database for the block, dropped afterwards: yields its DatabaseAccess."""
        access = self.create_database(prefix=prefix)
        try:
            yield access
        finally:
            self.drop_database(access.name)


class _Backend:
    """What differs between MariaDB and PostgreSQL; one instance per Server call."""

    system_user = None
    process_names = ()

    def __init__(self, server):
        self.server = server

    @property
    def as_root(self):
        return os.geteuid() == 0

    def _system_account(self):
        try:
            return pwd.getpwnam(self.system_user)
        except KeyError:
            raise PrerequisiteError(
                f"system user '{self.system_user}' does not exist: "
                "run python -m oscar_dbservers prerequisites"
            ) from None

    def give_to_server_user(self, path):
        if self.as_root:
            account = self._system_account()
            os.chown(path, account.pw_uid, account.pw_gid)

    def check_reachable(self):
        """The server's system user must be able to reach its directories: say so plainly if not."""
        if not self.as_root:
            return
        result = commands.run(
            ["runuser", "-u", self.system_user, "--", "test", "-w", self.server.run_dir], check=False
        )
        if result.returncode != 0:
            raise DbServerError(
                f"{self.system_user}, the user {self.server.kind} runs as, cannot reach "
                f"{self.server.run_dir}: make every directory above it searchable by others "
                f"(chmod o+x) or choose another state root (${STATE_ENV})"
            )

    def pid(self):
        raise NotImplementedError

    def running(self):
        pid = self.pid()
        return pid is not None and _process_alive(pid, self.process_names)

    def stop(self):
        """Stop the server if it runs; kill it when it does not stop in time."""
        pid = self.pid()
        if pid is None or not _process_alive(pid, self.process_names):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, self.process_names, STOP_TIMEOUT):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, self.process_names, 10)


class _MariaDB(_Backend):
    system_user = "mysql"
    process_names = ("mariadbd", "mysqld")

    @property
    def config_file(self):
        return os.path.join(self.server.directory, "my.cnf")

    @property
    def socket_path(self):
        return os.path.join(self.server.run_dir, "mariadb.sock")

    @property
    def pid_file(self):
        return os.path.join(self.server.run_dir, "mariadb.pid")

    def check_prerequisites(self):
        for program in prerequisites.MARIADB_PROGRAMS:
            commands.find_program(program)

    def initialize(self):
        state = self.server.state
        settings = {
            "datadir": self.server.data_dir,
            "socket": self.socket_path,
            "pid-file": self.pid_file,
            "log-error": self.server.log_file,
            "port": state["port"],
            "bind-address": HOST,
            "max_connections": MAX_CONNECTIONS,
            "character-set-server": "utf8mb4",
            "innodb_buffer_pool_size": "128M",
            "innodb_log_file_size": "48M",
            "innodb_flush_log_at_trx_commit": 1 if state["durable"] else 2,
            "innodb_doublewrite": 1 if state["durable"] else 0,
        }
        if not state["durable"]:
            # A tmpfs has no O_DIRECT, InnoDB's default way to write its files.
            settings["innodb_flush_method"] = "fsync"
        lines = ["[mariadbd]", "skip-name-resolve", "skip-log-bin"]
        lines += [f"{key} = {value}" for key, value in settings.items()]
        with open(self.config_file, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.chmod(self.config_file, 0o644)
        argv = [
            commands.find_program("mariadb-install-db"),
            f"--defaults-file={self.config_file}",
            "--skip-test-db",
            "--auth-root-authentication-method=socket",
        ]
        if self.as_root:
            argv.append(f"--user={self.system_user}")
        self._run(argv, "mariadb-install-db")

    def _run(self, argv, what, input_text=None):
        try:
            return commands.run(argv, input_text=input_text, timeout=START_TIMEOUT)
        except CommandError as exc:
            raise ServerStartError(f"{what} failed for server '{self.server.name}': {exc}") from exc

    def start(self, timeout):
        argv = [commands.find_program("mariadbd"), f"--defaults-file={self.config_file}"]
        if self.as_root:
            argv.append(f"--user={self.system_user}")
        # A session of its own: the server outlives the process that started it.
        with open(os.devnull, "rb") as nothing:
            # pylint: disable-next=consider-using-with
            process = subprocess.Popen(
                argv,
                stdin=nothing,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env=commands.command_env(),
            )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if process.poll() is not None:
                raise ServerStartError(
                    f"MariaDB server '{self.server.name}' exited with status {process.returncode}: "
                    f"{_tail(self.server.log_file)}"
                )
            if time.monotonic() >= deadline:
                process.kill()
                raise ServerStartError(
                    f"MariaDB server '{self.server.name}' did not answer within {timeout} s: "
                    f"{_tail(self.server.log_file)}"
                )
            time.sleep(0.1)

    def _answers(self):
        """True once the server accepts TCP connections on its port."""
        try:
            with socket.create_connection((HOST, self.server.port), timeout=1):
                return os.path.exists(self.pid_file)
        except OSError:
            return False

    def bootstrap(self):
        """Make the user (every host, or none over TCP could log in) and its database."""
        state = self.server.state
        user, password = state["user"], state["password"]
        statements = []
        for host in ("localhost", "%"):
            statements += [
                f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}';",
                f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'{host}';",
            ]
        statements.append(f"CREATE DATABASE {state['database']};")
        client = commands.find_program("mariadb")
        # The password travels on stdin, never on a command line others can see.
        self._run(
            [client, "--no-defaults", f"--socket={self.socket_path}", "--user=root"],
            "creating the user",
            input_text="\n".join(statements) + "\n",
        )

    def pid(self):
        return _read_pid(self.pid_file)

    def admin_connect(self):
        pymysql = _import_driver("pymysql")
        state = self.server.state
        return pymysql.connect(
            host=HOST, port=state["port"], user=state["user"], password=state["password"], autocommit=True
        )

    def create_database_sql(self, name):
        return f"CREATE DATABASE {name} CHARACTER SET utf8mb4"

    def drop_database_sql(self, name):
        return f"DROP DATABASE IF EXISTS {name}"


class _PostgreSQL(_Backend):
    system_user = "postgres"
    process_names = ("postgres",)

    def _bin(self, program):
        bin_dir = prerequisites.postgresql_bin_dir()
        if bin_dir is None:
            raise PrerequisiteError(
                "PostgreSQL is not installed (no initdb under /usr/lib/postgresql): "
                "run python -m oscar_dbservers prerequisites"
            )
        return os.path.join(bin_dir, program)

    def check_prerequisites(self):
        self._bin("initdb")
        if self.as_root:
            commands.find_program("runuser")

    def _as_server_user(self, argv):
        """argv run as postgres when we are root: PostgreSQL refuses to run as root."""
        if self.as_root:
            return [commands.find_program("runuser"), "-u", self.system_user, "--", *argv]
        return argv

    def _run(self, argv, what):
        try:
            return commands.run(self._as_server_user(argv), timeout=START_TIMEOUT)
        except CommandError as exc:
            raise ServerStartError(f"{what} failed for server '{self.server.name}': {exc}") from exc

    def initialize(self):
        state = self.server.state
        password_file = os.path.join(self.server.run_dir, "initdb-password")
        descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(state["password"] + "\n")
        self.give_to_server_user(password_file)
        try:
            self._run(
                [
                    self._bin("initdb"),
                    f"--pgdata={self.server.data_dir}",
                    f"--username={state['user']}",
                    f"--pwfile={password_file}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ],
                "initdb",
            )
        finally:
            os.remove(password_file)
        settings = {
            "listen_addresses": f"'{HOST}'",
            "port": state["port"],
            "unix_socket_directories": f"'{self.server.run_dir}'",
            "max_connections": MAX_CONNECTIONS,
            "shared_buffers": "'128MB'",
        }
        if not state["durable"]:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        with open(os.path.join(self.server.data_dir, "postgresql.conf"), "a", encoding="utf-8") as handle:
            handle.write("\n# oscar_dbservers\n")
            handle.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def start(self, timeout):
        self._run(
            [
                self._bin("pg_ctl"),
                f"--pgdata={self.server.data_dir}",
                f"--log={self.server.log_file}",
                "--wait",
                f"--timeout={int(timeout)}",
                "start",
            ],
            "pg_ctl start",
        )

    def bootstrap(self):
        self.server.create_database(self.server.state["database"])

    def pid(self):
        return _read_pid(os.path.join(self.server.data_dir, "postmaster.pid"))

    def stop(self):
        if not self.running():
            return
        try:
            self._run(
                [self._bin("pg_ctl"), f"--pgdata={self.server.data_dir}", "--mode=fast", "--wait", "stop"],
                "pg_ctl stop",
            )
        except (DbServerError, PrerequisiteError):
            super().stop()

    def admin_connect(self):
        psycopg = _import_driver("psycopg")
        state = self.server.state
        return psycopg.connect(
            host=HOST,
            port=state["port"],
            user=state["user"],
            password=state["password"],
            dbname="postgres",
            autocommit=True,
        )

    def create_database_sql(self, name):
        return f"CREATE DATABASE {name}"

    def drop_database_sql(self, name):
        # FORCE: a test that left a connection open must not keep its database alive.
        return f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"


_BACKENDS = {"mariadb": _MariaDB, "postgresql": _PostgreSQL}


def ensure_server(name, kind, state_root=None, durable=False, log=print):
    """The running server NAME of this kind, started now unless it already runs."""
    return Server(name, state_root=state_root, log=log).ensure(kind, durable=durable)


def list_servers(state_root=None):
    """Every server under a state root, by name."""
    root = state_root or default_state_root()
    found = []
    if os.path.isdir(root):
        for entry in sorted(os.listdir(root)):
            if NAME_PATTERN.fullmatch(entry) and os.path.exists(os.path.join(root, entry, "state.json")):
                found.append(Server(entry, state_root=root))
    return found
