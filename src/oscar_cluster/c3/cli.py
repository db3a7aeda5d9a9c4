"""The C3 commands: argument parsing, node selection, and printing what happened."""

import argparse
import os
import re
import shlex
import signal
import sys

from oscar_cluster.module_utils import nodeset

from . import conf, gather, inventory, mux, ranges
from .gather import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from .model import C3Error

COMMANDS = (*mux.NODE_COMMANDS, "clist", "cname", "cnum")
DEFAULT_FANOUT = 64
DEFAULT_CONNECT_TIMEOUT = 10.0
_USER = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*")
_SHUTDOWN_TIME = re.compile(r"(now|\+\d+|\d{1,2}:\d{2})")
_GLOB = re.compile(r"[*?\[]")

SELECTION_HELP = """
node selection (by default: every working compute node of the default cluster):
  MACHINE DEFINITIONS, C3's positional ranges, before the command's own arguments:
    :1-3              positions 1 to 3 of the default cluster (positions count from 0)
    oscar:0,4-6       positions 0, 4, 5 and 6 of cluster oscar
    oscar:            every node of cluster oscar
    admin@oscar:2     position 2, logged in as admin
  Dead and excluded nodes keep their positions but are never contacted.
  -w/-x/-g take ClusterShell node sets: node[01-64], @group, ! (but not), & (and).

nodes and connection settings come from Ansible's inventory (--inventory, else
$OSCAR_C3_INVENTORY, else ./oscar_inventory), exactly as ansible-playbook sees them:
ansible_host, ansible_user, ansible_port, ansible_ssh_private_key_file and the ssh
arguments (-F ssh_config, -o options).  Without any of them, from ODA itself
($OSCAR_ODA_URL, else sqlite:/var/lib/oscar/oda.db), as the oscar.cluster.oda
inventory plugin reads it, without Ansible.  cluster_<name> groups are the clusters,
oscar_server holds the head, oda_dead and oda_excluded the nodes to skip.  --conf
reads a C3 c3.conf instead (/etc/c3.conf is read when there is no inventory and no ODA).

exit status: 0 when every node succeeded; else the worst node's: its command's exit
status, 124 for a timeout, 255 for an unreachable node or a lost connection;
2 for bad arguments (nothing ran), 130 when interrupted.
"""


class Parser(argparse.ArgumentParser):
    """argparse that exits with EXIT_USAGE and the command's name on errors."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, "%s: error: %s\n" % (self.prog, message))


def _positive(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("'%s' is not a number of seconds" % text) from None
    if value <= 0:
        raise argparse.ArgumentTypeError("'%s' must be above 0" % text)
    return value


def _fanout(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("'%s' is not a whole number of hosts of at least 1" % text)
    return int(text)


def _persist(text):
    if not text.isdigit():
        raise argparse.ArgumentTypeError("'%s' is not a whole number of seconds" % text)
    return int(text)


def _user(text):
    if not _USER.fullmatch(text):
        raise argparse.ArgumentTypeError("'%s' is not a valid user name" % text)
    return text


def _source_options(parser):
    group = parser.add_argument_group("where the nodes come from")
    group.add_argument(
        "-f",
        "--file",
        "--conf",
        dest="conf",
        metavar="C3CONF",
        help="read clusters from a C3 c3.conf file (for example /etc/c3.conf) instead of the inventory",
    )
    group.add_argument(
        "--inventory",
        action="append",
        metavar="SOURCE",
        help="Ansible inventory source (repeatable; default: $OSCAR_C3_INVENTORY, else ./oscar_inventory, "
        "else ODA read directly)",
    )
    group.add_argument(
        "--refresh",
        action="store_true",
        help="read the inventory again instead of using the cached answer",
    )


def _selection_options(parser, login_short=True):
    group = parser.add_argument_group("which nodes")
    group.add_argument("--head", action="store_true", help="the head node of the cluster(s) only")
    group.add_argument(
        "--all", action="store_true", help="the nodes of every cluster, not only the default one"
    )
    group.add_argument(
        "-w", dest="nodes", action="append", metavar="NODESET", help="these nodes, e.g. node[01-08]"
    )
    group.add_argument("-x", dest="exclude", action="append", metavar="NODESET", help="but not these nodes")
    group.add_argument(
        "-g", dest="groups", action="append", metavar="GROUP", help="the hosts of an inventory group"
    )
    flags = ["-l", "--login"] if login_short else ["--login"]
    group.add_argument(*flags, dest="login", type=_user, metavar="USER", help="log in as USER")


def _run_options(parser, interactive=True, connections=True):
    """How a command runs.

    Without ``connections``, none of the options of C3's own SSH
    connections: for a command whose program (rsync) makes its own.
    """
    group = parser.add_argument_group("how")
    if interactive:
        group.add_argument(
            "-i", "--interactive", action="store_true", help="show the nodes and ask once before running"
        )
    group.add_argument(
        "-n",
        "--dryrun",
        "--dry-run",
        dest="dryrun",
        action="store_true",
        help="print what would run, run nothing",
    )
    group.add_argument(
        "--fanout",
        type=_fanout,
        default=DEFAULT_FANOUT,
        metavar="N",
        help="nodes worked on at once, a sliding window (default: %d)" % DEFAULT_FANOUT,
    )
    group.add_argument(
        "--connect-timeout",
        type=_positive,
        default=DEFAULT_CONNECT_TIMEOUT,
        metavar="SECONDS",
        help="per node, to open the SSH connection (default: %g)" % DEFAULT_CONNECT_TIMEOUT,
    )
    if not connections:
        group.add_argument("-q", "--quiet", action="store_true", help="no summary line at the end")
        return
    group.add_argument(
        "-t",
        "--timeout",
        type=_positive,
        metavar="SECONDS",
        help="per node, for the command or transfer once connected (default: none)",
    )
    group.add_argument(
        "--persist",
        type=_persist,
        metavar="SECONDS",
        help="keep SSH connections open this long after the run in a per-user daemon, so the next run "
        "reuses them (default: $OSCAR_C3_PERSIST, else 300; 0: no daemon)",
    )
    group.add_argument("-q", "--quiet", action="store_true", help="no summary line at the end")


EXAMPLES = {
    "cexec": """examples:
  cexec hostname                      every compute node of the default cluster
  cexec :1-3 uptime                   positions 1, 2 and 3
  cexec oscar:0,4-6 df -h /tmp        positions 0 and 4 to 6 of cluster oscar
  cexec admin@oscar: id               every node, as user admin (like -l admin)
  cexec --head systemctl status slurmctld
  cexec -w 'node[001-008]!node003' -t 30 'dnf -y update'
  cexec -g oscar_clients --fanout 16 reboot
  cexec -p uname -r | sort            one "node: line" per output line
  cexec -n hostname                   show the nodes and the command, run nothing
""",
    "cexecs": """examples:
  cexecs hostname                     one node after the other, each under its name
  cexecs :0-1 'dmesg | tail -n 3'
""",
    "cpush": """examples:
  cpush /etc/hosts                    to the same path on every node
  cpush :1-3 foo.rpm /tmp             into /tmp/ of positions 1 to 3
  cpush -b big.tar /scratch/          send even if size and mtime match
  cpush -l files.txt                  every "SOURCE [TARGET]" line of files.txt
  cpush -w @oscar_clients ./conf.d /etc/app/conf.d
As rsync does by default, a file whose copy on a node has the same size and
modification time is not sent again (-b sends it anyway).  A file is written to a
temporary name over SFTP, given the source's mode and mtime, and renamed into
place.  A directory is pushed file by file (parents are made).
""",
    "cget": """examples:
  cget /var/log/messages              into ./messages_<cluster>_<node> for every node
  cget :1,3-6 /tmp/results.dat /tmp   into /tmp/results.dat_oscar_node002 ...
""",
    "crm": """examples:
  crm /tmp/scratch.dat                remove a file on every node
  crm -r :2-5 /tmp/job-42             remove a directory tree
  crm '/tmp/*.core'                   a pattern, expanded on each node
""",
    "ckill": """examples:
  ckill a.out                         send TERM to the login user's processes named a.out
  ckill -s KILL -u ALL :0-7 stress    KILL every user's stress processes
  ckill -s HUP -u root sshd
A process is matched by its exact name (as in /proc/PID/comm, at most 15 characters).
""",
    "cshutdown": """examples:
  cshutdown                           power every compute node off now
  cshutdown -r :4 now                 reboot position 4
  cshutdown -r +5 'kernel update'     reboot in 5 minutes, telling logged-in users why
  cexec 'shutdown -c'                 cancel a scheduled shutdown
""",
    "clist": """examples:
  clist                               the clusters of ODA (the inventory)
  clist --conf /etc/c3.conf
""",
    "cname": """examples:
  cname                               names of the default cluster's nodes with their positions
  cname oscar:0-3
""",
    "cnum": """examples:
  cnum node003 node010                positions of these nodes in the default cluster
  cnum oscar: node003
""",
}

DESCRIPTIONS = {
    "cexec": "Run a command on cluster nodes in parallel; identical output is shown once for all its nodes.",
    "cexecs": "Run a command on cluster nodes one after the other (serial cexec).",
    "cpush": "Copy files to cluster nodes.",
    "cget": "Fetch a file from cluster nodes, renamed NAME_CLUSTER_NODE.",
    "crm": "Remove files on cluster nodes.",
    "ckill": "Send a signal to processes, by name, on cluster nodes.",
    "cshutdown": "Shut down or reboot cluster nodes.",
    "clist": "List the clusters: their type, head and number of nodes.",
    "cname": "Names of the nodes at C3 positions.",
    "cnum": "C3 positions of node names.",
}


def build_parser(command):
    parser = Parser(
        prog=command,
        description=DESCRIPTIONS[command],
        epilog=EXAMPLES[command] + ("" if command in ("clist",) else SELECTION_HELP),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _source_options(parser)
    if command == "clist":
        return parser
    if command in ("cname", "cnum"):
        parser.add_argument("--all", action="store_true", help="every cluster, not only the default one")
        parser.add_argument(
            "words",
            nargs=argparse.REMAINDER,
            metavar="[MACHINE DEFINITIONS] NAMES" if command == "cnum" else "[MACHINE DEFINITIONS]",
        )
        return parser
    _selection_options(parser, login_short=command != "cpush")
    _run_options(parser, interactive=command not in ("cexecs",))
    if command in ("cexec", "cexecs"):
        parser.add_argument(
            "-p",
            "--pipe",
            action="store_true",
            help='print every output line as "node: line" as nodes finish',
        )
        parser.add_argument("words", nargs=argparse.REMAINDER, metavar="[MACHINE DEFINITIONS] COMMAND")
    elif command == "cpush":
        parser.add_argument(
            "-l", "--list", dest="list_file", metavar="FILE", help='push every "SOURCE [TARGET]" line of FILE'
        )
        parser.add_argument(
            "-b",
            "--blind",
            action="store_true",
            help="send every file, even when the node's copy has its size and mtime",
        )
        parser.add_argument(
            "words", nargs=argparse.REMAINDER, metavar="[MACHINE DEFINITIONS] SOURCE [TARGET]"
        )
    elif command == "cget":
        parser.add_argument(
            "words", nargs=argparse.REMAINDER, metavar="[MACHINE DEFINITIONS] SOURCE [TARGET_DIRECTORY]"
        )
    elif command == "crm":
        parser.add_argument(
            "-r", "--recursive", action="store_true", help="remove directories and their contents"
        )
        parser.add_argument("-v", "--verbose", action="store_true", help="print every removed file")
        parser.add_argument("words", nargs=argparse.REMAINDER, metavar="[MACHINE DEFINITIONS] FILE...")
    elif command == "ckill":
        parser.add_argument(
            "-s", "--signal", default="TERM", metavar="SIGNAL", help="signal name or number (default: TERM)"
        )
        parser.add_argument(
            "-u",
            "--user",
            metavar="USER",
            help="whose processes: a user name, or ALL (default: the login user)",
        )
        parser.add_argument("words", nargs=argparse.REMAINDER, metavar="[MACHINE DEFINITIONS] PROCESS_NAME")
    elif command == "cshutdown":
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("-r", "--reboot", action="store_true", help="reboot instead of powering off")
        mode.add_argument("--halt", action="store_true", help="halt instead of powering off")
        parser.add_argument(
            "words", nargs=argparse.REMAINDER, metavar="[MACHINE DEFINITIONS] [TIME] [MESSAGE]"
        )
    return parser


# ---- sources and selection ---------------------------------------------------


def load_inventory(args):
    if args.conf:
        if args.inventory:
            raise C3Error("--conf and --inventory are two sources; give one")
        return conf.load(args.conf)
    # With no Ansible source and no ODA database to read, a C3 site's own c3.conf.
    if (
        not args.inventory
        and not inventory.default_sources()
        and not inventory.oda_found()
        and os.path.exists(conf.DEFAULT_PATH)
    ):
        return conf.load(conf.DEFAULT_PATH)
    return inventory.load(args.inventory, refresh=args.refresh)


def split_definitions(words):
    """(machine definitions, the rest): definitions are the leading words shaped like [user@][cluster]:[n]."""
    words = list(words)
    if words and words[0] == "--":
        words.pop(0)
    definitions = []
    while words and ranges.looks_like_definition(words[0]):
        try:
            definitions.append(ranges.parse(words.pop(0)))
        except ranges.C3RangeError as error:
            raise C3Error(str(error)) from None
    if words and words[0] == "--":
        words.pop(0)
    return definitions, words


class Target:
    def __init__(self, name, cluster, host):
        self.name = name
        self.cluster = cluster
        self.host = host

    def to_request(self):
        return {"host": self.host.to_dict(), "cluster": self.cluster}


def _cluster_of(inv, name):
    for cluster in inv.clusters.values():
        if name == cluster.head or any(name == node for node, _state in cluster.nodes):
            return cluster.name
    return inv.default_cluster().name


def _check_direct(cluster):
    if cluster.indirect:
        raise C3Error(
            "cluster '%s' is indirect: only its head %s is known here; run the command there"
            % (cluster.name, cluster.head)
        )


def select_targets(inv, args, definitions):
    """(targets, skipped [(name, state)]) for the selection options; a C3Error when it names no node."""
    chosen = {}  # name -> (cluster, user)
    skipped = []
    explicit = bool(definitions or args.nodes or args.groups)
    if args.head:
        clusters = [inv.cluster(d.cluster) for d in definitions] or (
            list(inv.clusters.values()) if args.all else [inv.default_cluster()]
        )
        for cluster in clusters:
            if not cluster.head:
                raise C3Error("cluster '%s' has no head node in %s" % (cluster.name, inv.source))
            chosen[cluster.head] = (cluster.name, None)
    else:
        for definition in definitions:
            cluster = inv.cluster(definition.cluster)
            _check_direct(cluster)
            try:
                usable, passed_over = ranges.select(definition, cluster.name, cluster.nodes)
            except ranges.C3RangeError as error:
                raise C3Error(str(error)) from None
            skipped += passed_over
            for name in usable:
                chosen[name] = (cluster.name, definition.user)
        expressions = list(args.nodes or []) + ["@%s" % g for g in args.groups or []]
        for expression in expressions:
            try:
                names = nodeset.expand(expression, inv.groups.get)
            except nodeset.NodeSetError as error:
                raise C3Error(str(error)) from None
            for name in names:
                inv.host(name)
                chosen.setdefault(name, (_cluster_of(inv, name), None))
        if not explicit:
            clusters = list(inv.clusters.values()) if args.all else [inv.default_cluster()]
            for cluster in clusters:
                if args.all and cluster.indirect:
                    continue
                _check_direct(cluster)
                definition = ranges.MachineDefinition("%s:" % cluster.name)
                try:
                    usable, passed_over = ranges.select(definition, cluster.name, cluster.nodes)
                except ranges.C3RangeError as error:
                    raise C3Error(str(error)) from None
                skipped += passed_over
                for name in usable:
                    chosen[name] = (cluster.name, None)
    for expression in args.exclude or []:
        try:
            for name in nodeset.expand(expression, inv.groups.get):
                chosen.pop(name, None)
        except nodeset.NodeSetError as error:
            raise C3Error(str(error)) from None
    if not chosen:
        raise C3Error("the selection names no node")
    targets = []
    for name in sorted(chosen, key=nodeset.natural_key):
        cluster, user = chosen[name]
        host = inv.host(name)
        if user or args.login:
            host = host.with_user(user or args.login)
        targets.append(Target(name, cluster, host))
    return targets, skipped


# ---- running -----------------------------------------------------------------


def _persist_seconds(args):
    if args.persist is not None:
        return args.persist
    try:
        return mux.persist_from_environment()
    except ValueError as error:
        raise C3Error(str(error)) from None


def _confirm(prog, what, targets):
    names = nodeset.fold(t.name for t in targets)
    prompt = "%s: %s on %s (%d node%s)? [y/N] " % (
        prog,
        what,
        names,
        len(targets),
        "" if len(targets) == 1 else "s",
    )
    try:
        with open("/dev/tty", "r+") as tty:
            tty.write(prompt)
            tty.flush()
            answer = tty.readline()
    except OSError:
        sys.stderr.write(prompt)
        sys.stderr.flush()
        answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _dry_run(prog, what, targets, skipped):
    print("%s: would run on %s (%d): %s" % (prog, nodeset.fold(t.name for t in targets), len(targets), what))
    for target in targets:
        host = target.host
        where = "%s@%s" % (host.user, host.address) if host.user else host.address
        print("  %s: %s%s" % (target.name, where, ":%d" % host.port if host.port else ""))
    for name, state in skipped:
        print("  %s: skipped, %s" % (name, state))
    return EXIT_OK


def execute(prog, args, targets, skipped, job, *, what, serial=False, pipe=False):
    """Run a job on the targets and print as the options say; returns the exit status."""
    if args.dryrun:
        return _dry_run(prog, what, targets, skipped)
    if getattr(args, "interactive", False) and not _confirm(prog, what, targets):
        print("%s: cancelled, nothing ran" % prog, file=sys.stderr)
        return 1
    progress = gather.Progress(sys.stderr, len(targets), prog)
    stdout = sys.stdout

    def on_result(result):
        if pipe:
            stdout.write(gather.render_piped(result))
            stdout.flush()
        elif serial:
            progress.finish()
            stdout.write(gather.render_serial(result))
            stdout.flush()
        progress.update(result)

    request = {
        "targets": [t.to_request() for t in targets],
        "job": job,
        "fanout": 1 if serial else args.fanout,
        "connect_timeout": args.connect_timeout,
        "timeout": args.timeout,
        "persist": _persist_seconds(args),
    }
    try:
        results = mux.run(request, on_result)
    finally:
        progress.finish()
    if not pipe and not serial:
        stdout.write(gather.render_gathered(results))
    stdout.flush()
    if not args.quiet:
        lines = gather.summary(results, prog)
        if skipped:
            lines.append("%s: skipped: %s" % (prog, ", ".join("%s (%s)" % pair for pair in skipped)))
        print("\n".join(lines), file=sys.stderr)
    return gather.exit_status(results)


# ---- the commands ------------------------------------------------------------


def cmd_exec(prog, args, inv, serial=False):
    definitions, words = split_definitions(args.words)
    if not words:
        raise C3Error("no command given")
    targets, skipped = select_targets(inv, args, definitions)
    command = " ".join(words)
    return execute(
        prog,
        args,
        targets,
        skipped,
        {"kind": "exec", "command": command},
        what=command,
        serial=serial,
        pipe=args.pipe,
    )


def _file_specs(source, target):
    """Push specs for a local file or directory; a C3Error when it is missing."""
    source = os.path.abspath(source)
    if not os.path.exists(source):
        raise C3Error("source file %s does not exist" % source)
    target = target or source
    pairs = []
    if os.path.isdir(source):
        for directory, _dirs, files in os.walk(source):
            for name in sorted(files):
                path = os.path.join(directory, name)
                pairs.append((path, os.path.join(target, os.path.relpath(path, source))))
        if not pairs:
            raise C3Error("source directory %s holds no file" % source)
    else:
        pairs.append((source, target))
    specs = []
    for path, destination in pairs:
        if not os.access(path, os.R_OK):
            raise C3Error("source file %s cannot be read" % path)
        info = os.stat(path)
        spec = {
            "source": path,
            "target": destination,
            "mode": info.st_mode & 0o7777,
            "mtime": int(info.st_mtime),
            "size": info.st_size,
        }
        specs.append(spec)
    return specs


def cmd_push(prog, args, inv):
    definitions, words = split_definitions(args.words)
    pairs = []
    if args.list_file:
        try:
            with open(args.list_file, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except OSError as error:
            raise C3Error("cannot read the list file %s: %s" % (args.list_file, error.strerror)) from None
        for number, line in enumerate(lines, 1):
            fields = shlex.split(line, comments=True)
            if not fields:
                continue
            if len(fields) > 2:
                raise C3Error(
                    "%s line %d: expected SOURCE [TARGET], found '%s'" % (args.list_file, number, line)
                )
            pairs.append((fields[0], fields[1] if len(fields) == 2 else None))
    if words:
        if len(words) > 2:
            raise C3Error("expected SOURCE [TARGET], found %d words: %s" % (len(words), " ".join(words)))
        pairs.append((words[0], words[1] if len(words) == 2 else None))
    if not pairs:
        raise C3Error("no source file given (SOURCE [TARGET], or -l FILE)")
    specs = []
    for source, target in pairs:
        specs += _file_specs(source, target)
    targets, skipped = select_targets(inv, args, definitions)
    what = (
        "push "
        + ", ".join("%s -> %s" % (s["source"], s["target"]) for s in specs[:3])
        + (" ..." if len(specs) > 3 else "")
    )
    return execute(
        prog, args, targets, skipped, {"kind": "push", "files": specs, "blind": args.blind}, what=what
    )


def cmd_get(prog, args, inv):
    definitions, words = split_definitions(args.words)
    if not words or len(words) > 2:
        raise C3Error("expected SOURCE [TARGET_DIRECTORY]")
    directory = os.path.abspath(words[1] if len(words) == 2 else ".")
    if not os.path.isdir(directory):
        raise C3Error("target directory %s does not exist" % directory)
    targets, skipped = select_targets(inv, args, definitions)
    job = {"kind": "get", "source": words[0], "directory": directory}
    return execute(prog, args, targets, skipped, job, what="fetch %s into %s" % (words[0], directory))


def _remote_word(word):
    """Quote a path for the remote shell, but leave a pattern such as /tmp/*.log to be expanded there."""
    return word if _GLOB.search(word) and not re.search(r"[\s;&|`$<>()'\"\\]", word) else shlex.quote(word)


def cmd_rm(prog, args, inv):
    definitions, words = split_definitions(args.words)
    if not words:
        raise C3Error("no file given")
    targets, skipped = select_targets(inv, args, definitions)
    flags = "-f" + ("r" if args.recursive else "") + ("v" if args.verbose else "")
    command = "rm %s -- %s" % (flags, " ".join(_remote_word(w) for w in words))
    return execute(prog, args, targets, skipped, {"kind": "exec", "command": command}, what=command)


# Walks /proc so it needs nothing but a POSIX shell and coreutils on the node.
_KILL_SCRIPT = r"""
signal=$1 name=$2 user=$3 found=0
for dir in /proc/[0-9]*; do
  [ "$(cat "$dir/comm" 2>/dev/null)" = "$name" ] || continue
  [ "$dir" = "/proc/$$" ] && continue
  if [ -n "$user" ] && [ "$(stat -c %U "$dir" 2>/dev/null)" != "$user" ]; then continue; fi
  kill -s "$signal" "${dir#/proc/}" 2>/dev/null && found=$((found + 1))
done
[ "$found" -gt 0 ] || echo "no process named $name${user:+ of $user}"
"""


def _signal_name(text):
    value = text.upper()
    if value.isdigit():
        try:
            return signal.Signals(int(value)).name[3:]
        except ValueError:
            raise C3Error("signal %s does not exist" % text) from None
    value = value[3:] if value.startswith("SIG") else value
    if "SIG" + value not in signal.Signals.__members__:
        raise C3Error("signal '%s' does not exist (for example TERM, KILL, HUP, 9)" % text)
    return value


def cmd_kill(prog, args, inv):
    definitions, words = split_definitions(args.words)
    if len(words) != 1:
        raise C3Error("expected one process name, found %d words" % len(words))
    name = words[0]
    if "/" in name or not name.strip():
        raise C3Error("'%s' is not a process name" % name)
    signal_name = _signal_name(args.signal)
    user = args.user
    if user is not None and user != "ALL" and not _USER.fullmatch(user):
        raise C3Error("'%s' is not a valid user name (or ALL)" % user)
    targets, skipped = select_targets(inv, args, definitions)
    if user is None:
        user = args.login or "$(id -un)"
        user_word = shlex.quote(args.login) if args.login else '"$(id -un)"'
    else:
        user_word = "''" if user == "ALL" else shlex.quote(user)
    command = "sh -c %s ckill %s %s %s" % (
        shlex.quote(_KILL_SCRIPT),
        signal_name,
        shlex.quote(name),
        user_word,
    )
    what = "send %s to processes named %s of %s" % (
        signal_name,
        name,
        "every user" if user == "ALL" else user,
    )
    return execute(prog, args, targets, skipped, {"kind": "exec", "command": command}, what=what)


def cmd_shutdown(prog, args, inv):
    definitions, words = split_definitions(args.words)
    when = "now"
    if words and _SHUTDOWN_TIME.fullmatch(words[0]):
        when = words.pop(0)
    elif words and words[0] == "t" and len(words) > 1:  # C3's "t TIME"
        words.pop(0)
        when = words.pop(0)
        if not _SHUTDOWN_TIME.fullmatch(when):
            raise C3Error("'%s' is not a shutdown time (now, +MINUTES or HH:MM)" % when)
    message = " ".join(words)
    mode = "-r" if args.reboot else "-H" if args.halt else "-P"
    targets, skipped = select_targets(inv, args, definitions)
    command = "shutdown %s %s" % (mode, when) + (" %s" % shlex.quote(message) if message else "")
    return execute(prog, args, targets, skipped, {"kind": "exec", "command": command}, what=command)


def cmd_list(prog, args, inv):
    for cluster in inv.clusters.values():
        if cluster.indirect:
            print("cluster %s: indirect, head %s" % (cluster.name, cluster.head))
            continue
        counts = {}
        for _name, state in cluster.nodes:
            counts[state] = counts.get(state, 0) + 1
        states = ", ".join(
            "%d %s" % (counts[s], s) for s in (ranges.UP, ranges.DEAD, ranges.EXCLUDED) if counts.get(s)
        )
        print(
            "cluster %s: direct, head %s, %d node%s%s"
            % (
                cluster.name,
                cluster.head or "(none)",
                len(cluster.nodes),
                "" if len(cluster.nodes) == 1 else "s",
                " (%s)" % states if states else "",
            )
        )
    return EXIT_OK


def cmd_name(prog, args, inv):
    definitions, words = split_definitions(args.words)
    if words:
        raise C3Error("unexpected words after the machine definitions: %s" % " ".join(words))
    if not definitions:
        clusters = list(inv.clusters.values()) if args.all else [inv.default_cluster()]
        definitions = [
            ranges.MachineDefinition("%s:" % c.name, cluster=c.name) for c in clusters if not c.indirect
        ]
    for definition in definitions:
        cluster = inv.cluster(definition.cluster)
        _check_direct(cluster)
        try:
            positions = ranges.positions_in(definition, cluster.name, cluster.nodes)
        except ranges.C3RangeError as error:
            raise C3Error(str(error)) from None
        for position in positions:
            name, state = cluster.nodes[position]
            print(
                "%s:%d %s%s" % (cluster.name, position, name, "" if state == ranges.UP else " (%s)" % state)
            )
    return EXIT_OK


def cmd_num(prog, args, inv):
    definitions, names = split_definitions(args.words)
    if not names:
        raise C3Error("no node name given")
    if any(d.positions is not None for d in definitions):
        raise C3Error("cnum takes clusters (cluster:), not positions")
    clusters = [inv.cluster(d.cluster) for d in definitions] or (
        list(inv.clusters.values()) if args.all else [inv.default_cluster()]
    )
    status = EXIT_OK
    for expression in names:
        try:
            expanded = nodeset.expand(expression, inv.groups.get)
        except nodeset.NodeSetError as error:
            raise C3Error(str(error)) from None
        for name in expanded:
            found = [(c.name, ranges.position_of(name, c.nodes)) for c in clusters]
            found = [(c, p) for c, p in found if p is not None]
            if not found:
                print(
                    "%s: %s is not a node of %s" % (prog, name, ", ".join(c.name for c in clusters)),
                    file=sys.stderr,
                )
                status = 1
            for cluster_name, position in found:
                print("%s:%d %s" % (cluster_name, position, name))
    return status


HANDLERS = {
    "cexec": cmd_exec,
    "cexecs": lambda prog, args, inv: cmd_exec(prog, args, inv, serial=True),
    "cpush": cmd_push,
    "cget": cmd_get,
    "crm": cmd_rm,
    "ckill": cmd_kill,
    "cshutdown": cmd_shutdown,
    "clist": cmd_list,
    "cname": cmd_name,
    "cnum": cmd_num,
}


def run_command(command, argv):
    args = build_parser(command).parse_args(argv)
    return reporting_errors(command, lambda: HANDLERS[command](command, args, load_inventory(args)))


def reporting_errors(command, call):
    """call()'s exit status, or the status and message of the error it raised, as every C3 command exits."""
    try:
        return call()
    except C3Error as error:
        print("%s: error: %s" % (command, error), file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print("%s: error: %s" % (command, error), file=sys.stderr)
        return gather.EXIT_UNREACHABLE
    except KeyboardInterrupt:
        print("%s: interrupted" % command, file=sys.stderr)
        return EXIT_INTERRUPTED


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "mux":
        mux_parser = Parser(prog="c3 mux", description="The per-user daemon holding SSH connections.")
        mux_parser.add_argument(
            "--persist", type=_persist, default=mux.DEFAULT_PERSIST, help="idle seconds before it exits"
        )
        mux_parser.add_argument("--stop", action="store_true", help="stop the running daemon")
        mux_args = mux_parser.parse_args(argv[1:])
        if mux_args.stop:
            return 0 if mux.stop() else 1
        return mux.serve(mux_args.persist)
    if not argv or argv[0] not in COMMANDS:
        print("usage: c3 {%s} [arguments]" % ",".join(COMMANDS), file=sys.stderr)
        return EXIT_USAGE
    return run_command(argv[0], argv[1:])
