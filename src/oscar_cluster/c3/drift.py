"""cdrift: which files of each node differ from its image version, through C3's fan-out.

Typed on the head, which holds the images: every selected node is compared
with its image version by rsync's dry run (oscar.cluster.image_drift's own
library), many nodes at once, and each prints "no drift" or its differing
paths, one per line, under its name as ``cexec -p`` does.
"""

import argparse
import sys

from oscar_cluster.module_utils import oda_db, oda_inventory
from oscar_cluster.module_utils.image_store import DEFAULT_ROOT
from oscar_cluster.module_utils.oda_errors import OdaError

from . import cli
from .model import C3Error

PROG = "cdrift"
EPILOG = """examples:
  cdrift --image debian12 --version 2 -w 'node[001-004]'
  cdrift                              every node against its image and version in ODA
  cdrift --checksum :0-3              compare file contents, not only sizes and times
  cdrift --exclude-path /etc/ssh/sshd_config.d/site.conf     a site's own file is not drift
Each node prints "no drift", or one "KIND PATH" line per differing path (missing from
the node, extra on it, changed), prefixed by its name.  The paths an image update never
touches (identity, logs, mounts, the files the roles write from ODA) are not drift.
Without --image, a node's image and version are ODA's (oda node modify NODE --image);
without a version there, the image's current one.
exit status: 0 when no node differs; 1 when one differs; else as the other C3 commands
(255 for a node that cannot be reached, 2 for bad arguments).
"""


def _version(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("'%s' is not a version number (1 or more)" % text)
    return int(text)


def build_parser():
    parser = cli.Parser(
        prog=PROG,
        description="List, per node, the files that differ from the node's image version.",
        epilog=EPILOG + cli.SELECTION_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    images = parser.add_argument_group("which image")
    images.add_argument("--image", metavar="NAME", help="compare every node with this image (default: ODA's)")
    images.add_argument(
        "--version", type=_version, metavar="N", help="this version of it (default: ODA's, else current)"
    )
    images.add_argument(
        "--images-root",
        default=DEFAULT_ROOT,
        metavar="DIR",
        help="where the images are (default: %(default)s)",
    )
    images.add_argument(
        "--exclude-path",
        dest="exclude_paths",
        action="append",
        default=[],
        metavar="PATH",
        help="a site path that is not drift, as image_sync's exclude (repeatable; -x excludes nodes)",
    )
    images.add_argument(
        "--checksum", action="store_true", help="compare the content of every file, not only size and time"
    )
    cli._source_options(parser)
    cli._selection_options(parser)
    # rsync makes its own SSH connections: no timeout or persistence of C3's.
    cli._run_options(parser, interactive=False, connections=False)
    parser.add_argument("words", nargs=argparse.REMAINDER, metavar="[MACHINE DEFINITIONS]")
    return parser


def oda_images():
    """{node: (image, version or None)} as ODA records them."""
    url, password = oda_db.resolve()
    try:
        snapshot = oda_inventory.read_snapshot(url, password=password)
    except OdaError as error:
        raise C3Error(
            "cannot read the nodes' images from ODA (%s): %s" % (oda_db.mask_url(url), error)
        ) from None
    return {node["hostname"]: (node.get("image"), node.get("image_version")) for node in snapshot["nodes"]}


def images_of(targets, image, version, recorded=None):
    """{node: [image, version]}; a node with no image is a C3Error naming it."""
    if image:
        return {target.name: [image, version] for target in targets}
    recorded = oda_images() if recorded is None else recorded
    missing = [target.name for target in targets if not (recorded.get(target.name) or (None,))[0]]
    if missing:
        raise C3Error(
            "no image in ODA for %s: give one with --image, or record it (oda node modify NODE --image NAME)"
            % ", ".join(missing)
        )
    return {
        target.name: [recorded[target.name][0], version or recorded[target.name][1]] for target in targets
    }


def run(argv):
    args = build_parser().parse_args(argv)
    return cli.reporting_errors(PROG, lambda: compare(args))


def compare(args):
    inv = cli.load_inventory(args)
    definitions, words = cli.split_definitions(args.words)
    if words:
        raise C3Error("unexpected words: %s" % " ".join(words))
    targets, skipped = cli.select_targets(inv, args, definitions)
    job = {
        "kind": "drift",
        "images_root": args.images_root,
        "images": images_of(targets, args.image, args.version),
        "checksum": args.checksum,
        "exclude": args.exclude_paths,
    }
    # rsync makes its own SSH connections: none for the C3 daemon to keep.
    args.persist = 0
    args.timeout = None
    what = "compare with %s" % (
        "%s version %s" % (args.image, args.version or "current") if args.image else "their images in ODA"
    )
    return cli.execute(PROG, args, targets, skipped, job, what=what, pipe=True)


def main():
    return run(sys.argv[1:])
