"""Stand-in for the pip bootstrap script ansible-test downloads.

ansible-test creates its sanity virtual environments without pip and then
runs a "get-pip" script fetched from a host that these machines cannot
reach.  This script does the same job from what is at hand: ensurepip puts
the interpreter's bundled pip into the environment, then that pip installs
the exact packages ansible-test asked for (pip==<version>) from the package
index.  scripts/sanity places it where ansible-test looks for its cached copy.
"""

import ensurepip
import os
import subprocess
import sys

# Options that only the real get-pip script understands.
GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}


def main():
    # ensurepip points PIP_CONFIG_FILE at /dev/null in this process; the real
    # install must see the machine's pip configuration (index, certificates).
    environment = dict(os.environ)
    ensurepip.bootstrap(upgrade=True)
    arguments = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    return subprocess.call([sys.executable, "-m", "pip", "install", *arguments], env=environment)


if __name__ == "__main__":
    sys.exit(main())
