"""A Linux desktop without the system libraries Qt's X11 plugin needs: the app says
which are missing and the one apt-get line that installs them, instead of Qt's abort.

The failure is simulated with a real configuration point: Qt's own
QT_QPA_PLATFORM_PLUGIN_PATH, pointed at a copy of the installed xcb plugin whose
dependency on libxcb-cursor.so.0 is renamed to a version no system has.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.app import APT_INSTALL_LINE, XCB_LIBRARIES, missing_platform_libraries, platform_error, xcb_platform_selected

ROOT = Path(__file__).resolve().parents[1]
ABSENT = "libxcb-cursor.so.9"  # what the broken copy asks for instead of libxcb-cursor.so.0

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb plugin is Linux's")


def _qt_dir() -> Path:
    from PySide6.QtCore import QLibraryInfo

    return Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)).parent


def _installed_plugin() -> Path:
    plugin = _qt_dir() / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        pytest.skip("this PySide6 has no xcb plugin")
    return plugin


@pytest.fixture
def broken_plugin_dir(tmp_path) -> Path:
    """A platforms folder whose libqxcb.so needs a library that does not exist; its
    other dependencies resolve as the installed one's do (RUNPATH $ORIGIN/../../lib)."""
    payload = _installed_plugin().read_bytes()
    needed = b"\x00libxcb-cursor.so.0\x00"
    assert payload.count(needed) == 1, "the installed xcb plugin no longer links libxcb-cursor.so.0 directly"
    folder = tmp_path / "qt" / "plugins" / "platforms"
    folder.mkdir(parents=True)
    (folder / "libqxcb.so").write_bytes(payload.replace(needed, b"\x00" + ABSENT.encode() + b"\x00"))
    (tmp_path / "qt" / "lib").symlink_to(_qt_dir() / "lib", target_is_directory=True)
    return folder


@pytest.mark.parametrize(
    ("environ", "system", "expected"),
    [
        ({"DISPLAY": ":0"}, "linux", True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, "linux", True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb:display=:1"}, "linux", True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux", False),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
        # Wayland without a compositor: Qt falls through to the next platform in the list.
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland;xcb"}, "linux", True),
        ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
        ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"}, "linux", True),
        ({}, "linux", False),
        ({"DISPLAY": ":0"}, "darwin", False),
        ({"DISPLAY": ":0"}, "win32", False),
    ],
)
def test_the_check_runs_only_where_qt_loads_its_x11_plugin(environ, system, expected):
    assert xcb_platform_selected(environ, system=system) is expected


@linux_only
def test_every_missing_library_is_named_with_its_package_and_the_apt_line(broken_plugin_dir):
    # The loader names only the first missing library; the check names them all.
    missing = missing_platform_libraries(broken_plugin_dir / "libqxcb.so",
                                         libraries=("libxcb-icccm.so.4", "liblatent-explorer-absent.so.1"))
    assert missing == [ABSENT, "liblatent-explorer-absent.so.1"]
    message = platform_error(["libxcb-cursor.so.0", "libxcb-keysyms.so.1"])
    assert "libxcb-cursor.so.0, libxcb-keysyms.so.1" in message
    assert "libxcb-cursor0, libxcb-keysyms1" in message
    assert message.endswith(APT_INSTALL_LINE)
    assert "\n" not in message


@linux_only
def test_a_plugin_that_loads_is_not_reported():
    # The installed plugin loads wherever Qt can open a window (these machines run the
    # tests offscreen, but the libraries are installed): nothing to report.
    plugin = _installed_plugin()
    try:
        import ctypes

        ctypes.CDLL(str(plugin))
    except OSError as exc:
        pytest.skip(f"this machine lacks X11 libraries itself: {exc}")
    assert missing_platform_libraries(plugin) == []


@linux_only
def test_the_apt_line_covers_every_system_library_qt_x11_links():
    """When PySide6 starts linking another system library, this names it: add it and
    its Debian package to explorer.app.XCB_LIBRARIES (and the README's line)."""
    qt = _qt_dir()
    base = {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1"}  # in every installation
    linked: set[str] = set()
    for lib in (qt / "plugins" / "platforms" / "libqxcb.so", qt / "lib" / "libQt6XcbQpa.so.6"):
        if not lib.is_file():
            pytest.skip("this PySide6 has no xcb plugin")
        # The dynamic string table lists each NEEDED library as a NUL-delimited name.
        names = re.findall(rb"(?<=\x00)(lib[A-Za-z0-9_.+-]+\.so(?:\.\d+)+)(?=\x00)", lib.read_bytes())
        linked |= {n.decode() for n in names}
    system = {n for n in linked if not n.startswith("libQt6")} - base
    assert "libxcb-cursor.so.0" in system  # the scan sees what Qt needs
    assert sorted(system - set(XCB_LIBRARIES)) == []
    for package in dict.fromkeys(XCB_LIBRARIES[n] for n in system):
        assert f" {package}" in APT_INSTALL_LINE


@linux_only
@pytest.mark.slow
def test_the_app_prints_the_apt_line_instead_of_qt_aborting(broken_plugin_dir, tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
    home = tmp_path / "home"
    env.update(
        DISPLAY=":97",  # never connected to: the check comes first
        QT_QPA_PLATFORM_PLUGIN_PATH=str(broken_plugin_dir),
        HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"), LATENT_EXPLORER_CACHE=str(tmp_path / "cache"),
        LATENT_EXPLORER_DATA=str(tmp_path / "datasets"),
    )
    run = subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr[-2000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr[-2000:]
    assert ABSENT in lines[0]
    assert APT_INSTALL_LINE in lines[0]
    assert "Traceback" not in run.stderr
    assert not home.exists()  # nothing was written: it stopped before the window
