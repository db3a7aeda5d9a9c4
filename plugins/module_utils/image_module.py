# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every image module shares: the images root option, the command runner, and errors to failures.

``run_module`` is the one place where image errors become failures.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule

from .image_errors import ImageCommandError, ImageError
from .image_store import DEFAULT_ROOT, ImageStore
from .image_sync import ImageSync

# The option the oscar.cluster.image doc fragment documents.
IMAGE_ARGUMENT_SPEC = {"images_root": {"type": "path", "default": DEFAULT_ROOT}}


def runner(module):
    """A function running an argv with an environment, as the image libraries call commands.

    It answers (rc, stdout, stderr).
    """

    def run(argv, environment=None):
        return module.run_command(argv, environ_update=environment or {"LANG": "C", "LC_ALL": "C"})

    return run


# The options of the modules that compare an image version with a node
# (image_sync, image_drift), beside images_root.
SYNC_ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "version": {"type": "int"},
    "destination": {"type": "str", "required": True},
    "ssh_user": {"type": "str", "default": "root"},
    "ssh_key": {"type": "path", "no_log": False},
    "exclude": {"type": "list", "elements": "str", "default": []},
    "overrides": {"type": "path"},
}


def syncer(module):
    """The ImageSync of a module's parameters, running rsync through the module."""
    params = module.params
    return ImageSync(
        params["images_root"],
        params["name"],
        params["version"],
        destination=params["destination"],
        ssh_user=params["ssh_user"],
        ssh_key=params["ssh_key"],
        exclude=params["exclude"],
        overrides=params["overrides"],
        rsync=module.get_bin_path("rsync", required=True),
        runner=runner(module),
    )


def run_module(argument_spec, act, **module_options):
    """Build the module, open the store, call ``act(module, store)`` and exit with its answer."""
    module = AnsibleModule(
        argument_spec=dict(IMAGE_ARGUMENT_SPEC, **argument_spec), supports_check_mode=True, **module_options
    )
    try:
        answer = act(module, ImageStore(module.params["images_root"]))
    except ImageCommandError as error:
        module.fail_json(msg=str(error), rc=error.rc, stdout=error.stdout, stderr=error.stderr)
    except ImageError as error:
        module.fail_json(msg=str(error))
    module.exit_json(**answer)
