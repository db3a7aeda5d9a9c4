# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # What every image module shares: its author and where the images live
    # (module_utils/image_module.py holds the matching argument spec).
    DOCUMENTATION = r"""
author:
  - oscar.cluster developers (!UNKNOWN)
options:
  images_root:
    description:
      - The directory on the head that holds the images, one directory per image with its
        C(versions/N/root) trees, the C(current) link and the C(boot/N) artifacts.
    type: path
    default: /var/lib/oscar/images
notes:
  - Runs on the head, as root (image trees hold files of every owner).
seealso:
  - module: oscar.cluster.image_build
  - module: oscar.cluster.image_info
  - module: oscar.cluster.image_version
  - module: oscar.cluster.image_export
"""
