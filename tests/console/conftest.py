"""Browser tests of the Kiln console (`kiln serve` at /console/), driven through WebDriver.

Headless Chromium from Debian's packages (`chromium`, `chromium-driver`: /usr/bin/chromium,
/usr/bin/chromedriver) driven by `selenium` (tests/console/requirements.txt). Selenium is told
where the driver is, so it never downloads a browser or a driver.

Run (from the repo root, after `cargo build`):
    .venv/bin/pip install -r tests/conformance/requirements.txt -r tests/console/requirements.txt
    KILN_BIN=$PWD/target/debug/kiln .venv/bin/python -m pytest -q tests/console

Each test starts its own `kiln serve` (free 127.0.0.1 port, fresh data dir, the conformance
suite's keys) with the conformance suite's own start-up code (tests/conformance/conftest.py),
and its own browser with a fresh profile. Screenshots go to target/console-screenshots/; on a
failure the report gets the server log tail, the browser log, and a screenshot
`failed-<test>.png` there.
"""

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance"
if str(CONFORMANCE) not in sys.path:
    sys.path.insert(0, str(CONFORMANCE))

# The conformance suite's conftest under another module name: its server start/stop code
# (_start_kiln/_stop_kiln), keys and SDK clients. Its fixtures are not registered here.
_spec = importlib.util.spec_from_file_location("kiln_conformance_conftest", CONFORMANCE / "conftest.py")
cf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cf)

from kiln_helpers import REPO_ROOT  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

CHROMIUM = os.environ.get("KILN_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("KILN_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = REPO_ROOT / "target" / "console-screenshots"
SERVE_ARGS = ("--transition-delay", "200ms", "--task-delay", "300ms")

_STATE = {"driver": None}


@pytest.fixture
def kiln(tmp_path):
    """A fresh `kiln serve` for one test: a KilnEnv (.server, .vm, .disk, .data_dir)."""
    base = tmp_path / "kiln"
    base.mkdir()
    server = cf._start_kiln(base, SERVE_ARGS, label="kiln")
    try:
        yield cf.KilnEnv(server)
    finally:
        cf._stop_kiln(server, "kiln")


def _chrome_options(profile_dir):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-quic", "--window-size=1366,900",
                "--user-data-dir=%s" % profile_dir):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return opts


@pytest.fixture
def driver():
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail("%s is missing: the console tests need Debian's chromium and chromium-driver "
                        "(apt-get install chromium chromium-driver; scripts/test installs them)" % path,
                        pytrace=False)
    profile = tempfile.mkdtemp(prefix="kiln-chromium-")
    d = None
    try:
        # An explicit driver path: Selenium Manager is not consulted, nothing is downloaded.
        d = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=_chrome_options(profile))
        d.set_page_load_timeout(20)
        d.set_script_timeout(20)
        _STATE["driver"] = d
        yield d
    finally:
        _STATE["driver"] = None
        if d is not None:
            d.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.failed and rep.when == "call":
        d = _STATE["driver"]
        if d is not None:
            try:
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                shot = SCREENSHOTS / ("failed-%s.png" % item.name)
                d.save_screenshot(str(shot))
                rep.sections.append(("console: screenshot", str(shot)))
                rep.sections.append(("console: url", d.current_url))
                log = [e for e in d.get_log("browser")]
                rep.sections.append(("console: browser log",
                                     "\n".join("%s %s %s" % (e.get("level"), e.get("source"), e.get("message"))
                                               for e in log) or "(empty)"))
            except Exception as e:  # the browser may be gone
                rep.sections.append(("console: browser state", "unavailable: %r" % e))
        for label, path in list(cf._STATE["server_logs"].items()):
            rep.sections.append(("%s: server log tail" % label, cf._tail(path, 40)))
    return rep
