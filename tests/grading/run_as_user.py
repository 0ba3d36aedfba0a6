"""Run a command as an unprivileged user (the grading tests' "ordinary user" half; needs root).

    python tests/grading/run_as_user.py USER PROGRAM [ARGS...]

In a mount namespace of its own, the Python the tests run on is made reachable when it lives
under a private folder (``/root/.pyenv``), exactly as the sandbox does for its children;
then the process drops to USER and executes PROGRAM. Nothing outside changes.
"""

import ctypes
import os
import pwd
import sys

from i2dl_lab.grading.sandbox import confine

user = pwd.getpwnam(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(confine.CLONE_NEWNS) != 0 or libc.mount(b"none", b"/", None,
                                                        confine.MS_REC | confine.MS_PRIVATE, None) != 0:
    sys.exit("run_as_user: no private mount namespace")
confine.expose_python(libc)
os.setgroups([])
os.setgid(user.pw_gid)
os.setuid(user.pw_uid)
os.execv(sys.argv[2], sys.argv[2:])
