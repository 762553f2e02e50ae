"""
The build's one addition to setup.cfg: `taglm_plugin_startup.pth`, which Python runs at start
from site-packages (see `taglm_plugin_startup`), goes to the top of the wheel, the editable
one included.
"""
import os

from setuptools import setup
from setuptools.command.build_py import build_py

STARTUP_PTH = "taglm_plugin_startup.pth"


class BuildPyWithStartupPth(build_py):
    """`build_py` that also copies `STARTUP_PTH` to where the wheel's top level is assembled."""

    def run(self) -> None:
        super().run()
        # An editable wheel is assembled in `install`'s directory and ignores `build_lib`.
        if self.editable_mode:
            wheel_top = self.get_finalized_command("install").install_lib
        else:
            wheel_top = self.build_lib
        self.copy_file(STARTUP_PTH, os.path.join(wheel_top, STARTUP_PTH), preserve_mode=False)


setup(cmdclass={"build_py": BuildPyWithStartupPth})
