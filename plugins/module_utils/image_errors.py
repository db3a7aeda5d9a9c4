# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The errors of image operations; a module's main() turns them into failures."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ImageError(Exception):
    """Base of every image error; the message names the value at fault."""


class ImageInputError(ImageError):
    """A value given by the caller is malformed or not allowed."""


class ImageNotFoundError(ImageError):
    """An image, a version or a kernel that does not exist."""


class ImageConflictError(ImageError):
    """An operation that would break an invariant (delete the current version...)."""


class ImageCommandError(ImageError):
    """An external command (mmdebstrap, rsync, mksquashfs...) failed."""

    def __init__(self, message, rc=None, stdout="", stderr=""):
        super().__init__(message)
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
