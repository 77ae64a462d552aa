"""The Kiln console in a real browser (headless Chromium through WebDriver).

The page's elements are those of the console's DOM contract (ids, classes, data attributes):
`#signin`, `#nav a[data-page]`, `section#page-<name>`, `#error`, the tables' `tr[data-id]` rows,
`#launch-form`, `#image-form` with its `tr.rule-row` rules and the `#layout` picture, the
`.quota-bar`s. What the page shows is checked against the server through the official Python
jdcloud-sdk, as the conformance suite does (expected error messages are the server's own answer
to the same request).

Every wait is an explicit WebDriverWait; each test ends with no SEVERE entry in the browser log
(apart from the HTTP error statuses the test provoked on purpose).
"""

import json
import re
import subprocess

import pytest

from selenium.common.exceptions import (
    NoSuchElementException, StaleElementReferenceException, TimeoutException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from jdcloud_sdk.core.config import Config
from jdcloud_sdk.core.const import SCHEME_HTTP
from jdcloud_sdk.core.credential import Credential
from jdcloud_sdk.core.logger import ERROR, Logger
from jdcloud_sdk.services.vm.apis.DescribeQuotasRequest import DescribeQuotasParameters, DescribeQuotasRequest
from jdcloud_sdk.services.vm.apis.DescribeInstancesRequest import (
    DescribeInstancesParameters, DescribeInstancesRequest,
)
from jdcloud_sdk.services.vm.apis.ImportImageRequest import ImportImageParameters, ImportImageRequest
from jdcloud_sdk.services.vm.apis.ReleaseImageRequest import ReleaseImageParameters, ReleaseImageRequest
from jdcloud_sdk.services.vm.apis.ShareImageRequest import ShareImageParameters, ShareImageRequest
from jdcloud_sdk.services.vm.client.VmClient import VmClient

from kiln_helpers import (
    REGION, REPO_ROOT, cloud_data_disk, create_disks_resp, create_image_resp, create_instances_resp,
    create_snapshot_resp, describe_image, describe_instance, expect_error, ok, uniq, wait_disk_status,
    wait_image_status, wait_instance_status, wait_snapshot_status,
)

SCREENSHOTS = REPO_ROOT / "target" / "console-screenshots"  # conftest.py saves failures there too
WAIT = 30  # seconds; every wait in this file is bounded by it
BASE_IMAGE = "img-ubuntu2204"
DEV = re.compile(r"^vd[a-z]{1,2}$")


class QuietLogger(Logger):
    """An SDK logger that prints nothing (the SDK prints every exchange by default)."""

    def __init__(self):
        super(QuietLogger, self).__init__(ERROR)

    def log(self, level, message):
        pass


def _text(el):
    return (el.text or el.get_attribute("textContent") or "").strip()


class Console(object):
    """The console page in one browser, and the Kiln server behind it."""

    def __init__(self, driver, kiln):
        self.d = driver
        self.kiln = kiln
        self.url = kiln.server.base_url + "/console/"
        self.log = []

    # ---------------------------------------------------------------- waiting and finding
    def until(self, fn, what, timeout=WAIT):
        """Call fn() until it returns something truthy (exceptions of a changing DOM count as
        not yet); return that value."""
        wait = WebDriverWait(self.d, timeout, poll_frequency=0.1,
                             ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))
        try:
            return wait.until(lambda _d: fn())
        except TimeoutException:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))

    def find(self, css, root=None):
        return (root or self.d).find_element(By.CSS_SELECTOR, css)

    def find_all(self, css, root=None):
        return (root or self.d).find_elements(By.CSS_SELECTOR, css)

    def shown(self, css, root=None):
        els = self.find_all(css, root)
        return bool(els) and els[0].is_displayed()

    def visible(self, css, timeout=WAIT):
        return self.until(lambda: (lambda e: e if e.is_displayed() else None)(self.find(css)),
                          "%s to be visible" % css, timeout)

    def gone(self, css, timeout=WAIT):
        self.until(lambda: not self.shown(css), "%s to be hidden" % css, timeout)

    def click(self, css, root=None):
        el = self.until(lambda: (lambda e: e if e.is_displayed() and e.is_enabled() else None)(
            self.find(css, root)), "%s to be clickable" % css)
        el.click()
        return el

    def fill(self, css, value, root=None):
        el = self.find(css, root)
        el.clear()
        el.send_keys(str(value))
        return el

    def choose(self, css, value, root=None):
        """Select the option whose value is `value` (waiting for it: options may load late)."""
        el = self.find(css, root)
        self.until(lambda: [o for o in Select(el).options if o.get_attribute("value") == value],
                   "option %r in %s (has %r)" % (value, css, [o.get_attribute("value") for o in Select(el).options]))
        Select(el).select_by_value(value)
        return el

    # ---------------------------------------------------------------- the page
    def open(self):
        self.d.get(self.url)
        return self.visible("#signin")

    def sign_in(self, access_key=None, secret_key=None, region=REGION, press_enter=False):
        self.fill("#access-key", access_key or self.kiln.server.access_key)
        secret = self.fill("#secret-key", secret_key or self.kiln.server.secret_key)
        self.choose("#region", region)
        if press_enter:
            secret.send_keys(Keys.ENTER)
        else:
            self.click("#signin-submit")

    def signed_in(self):
        self.visible("#nav")
        self.gone("#signin")

    def go(self, page):
        self.click('#nav a[data-page="%s"]' % page)
        self.visible("section#page-%s" % page)
        for other in self.find_all("section[id^='page-']"):
            if other.get_attribute("id") != "page-" + page:
                assert not other.is_displayed(), "%s shown next to page-%s" % (other.get_attribute("id"), page)

    def rows(self, table):
        return {r.get_attribute("data-id"): r for r in self.find_all("#%s tr[data-id]" % table)}

    def row(self, table, rid):
        return self.find('#%s tr[data-id="%s"]' % (table, rid))

    def row_named(self, table, name):
        """Wait for the row whose `.name` cell reads `name`; return its data-id."""
        def look():
            for rid, r in self.rows(table).items():
                cells = self.find_all(".name", r)
                if cells and _text(cells[0]) == name:
                    return rid
            return None
        return self.until(look, "a row named %r in #%s" % (name, table))

    def cell(self, table, rid, cls):
        return _text(self.find("." + cls, self.row(table, rid)))

    def wait_cell(self, table, rid, cls, word, timeout=WAIT):
        """Wait until the row's `.cls` cell reads `word` (as a whole word, any case)."""
        pat = re.compile(r"(?<![\w-])%s(?![\w-])" % re.escape(word), re.I)
        last = {}

        def check():
            last["v"] = self.cell(table, rid, cls)
            return pat.search(last["v"]) is not None
        try:
            self.until(check, "%s %s .%s to read %r" % (table, rid, cls, word), timeout)
        except AssertionError as e:
            raise AssertionError("%s; it reads %r" % (e, last.get("v")))

    def devices(self, table, rid):
        """The device names a row's `.disks` cell lists (`vda …, vdb …`), in its order."""
        return [w for w in re.split(r"[\s,;]+", self.cell(table, rid, "disks")) if DEV.match(w)]

    def error(self):
        """Wait for #error to show; return its text."""
        return _text(self.visible("#error"))

    def dismiss_error(self):
        self.click("#error-dismiss")
        self.gone("#error")

    def screenshot(self, name):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / ("%s.png" % name)
        # Let the page settle (fonts, the last poll) before the picture; bounded and explicit.
        self.until(lambda: self.d.execute_script("return document.readyState") == "complete", "page loaded")
        assert self.d.save_screenshot(str(path)), path
        return path

    def storage(self, kind):
        return self.d.execute_script(
            "var s = window[arguments[0]], o = {};"
            "for (var i = 0; i < s.length; i++) { o[s.key(i)] = s.getItem(s.key(i)); } return o;", kind)

    # ---------------------------------------------------------------- the browser log
    def drain_log(self):
        self.log.extend(self.d.get_log("browser"))
        return self.log

    def assert_no_console_errors(self, http_statuses=()):
        """No SEVERE entry in the browser log, except 'Failed to load resource' for the HTTP
        statuses this test provoked on purpose (Chromium logs every non-2xx response of a fetch)."""
        bad = []
        for e in self.drain_log():
            if e.get("level") != "SEVERE":
                continue
            m = re.search(r"the server responded with a status of (\d+)", e.get("message", ""))
            if e.get("source") == "network" and m and int(m.group(1)) in http_statuses:
                continue
            bad.append("%s %s" % (e.get("source"), e.get("message")))
        assert not bad, "SEVERE entries in the browser log:\n" + "\n".join(bad)


@pytest.fixture
def console(driver, kiln):
    return Console(driver, kiln)


def assert_error_shown(text, err):
    """#error reads `<status>: <message> (request <requestId>)` with JD's error envelope (`err`:
    the SDK's ErrorResponse for the same request: its .status, e.g. INVALID_ARGUMENT, and .message)."""
    assert err.message in text, "JD's message %r not in #error %r" % (err.message, text)
    assert err.status in text, "status %s not in #error %r" % (err.status, text)
    assert re.search(r"\(request\s+[A-Za-z0-9-]{8,}\)", text), "no request id in #error %r" % text


def data_devices(view):
    return sorted(d["deviceName"] for d in view.get("dataDisks") or [])


# ------------------------------------------------------------------------------------------------
# sign-in, wrong secret, keyboard, sign-out
# ------------------------------------------------------------------------------------------------

def test_sign_in_by_keyboard_wrong_secret_and_sign_out(console, kiln):
    c = console
    c.open()
    # the answer the server gives an SDK with the same wrong secret
    wrong = "not-the-secret-%s" % uniq("")
    bad_vm = VmClient(Credential(kiln.server.access_key, wrong), Config(kiln.server.endpoint, scheme=SCHEME_HTTP, timeout=20), QuietLogger())
    e = expect_error(bad_vm.send(DescribeInstancesRequest(DescribeInstancesParameters(REGION))), 401, "ACCESS_ERROR")

    c.sign_in(secret_key=wrong)
    assert_error_shown(c.error(), e)
    assert not c.shown("#nav"), "signed in with a wrong secret"
    c.dismiss_error()

    # by keyboard: type both keys, Enter submits the form
    c.sign_in(press_enter=True)
    c.signed_in()
    c.visible("section#page-instances")
    assert not c.shown("#error"), c.error()
    session = c.storage("sessionStorage")
    assert any(kiln.server.secret_key in str(v) for v in session.values()), \
        "the secret is kept in sessionStorage: %r" % list(session)
    local = c.storage("localStorage")
    assert not any(kiln.server.secret_key in str(v) for v in local.values()), "secret in localStorage"

    # Escape closes a dialog
    c.click("#launch-open")
    c.visible("#launch-form")
    c.find("#launch-name").send_keys(Keys.ESCAPE)
    c.gone("#launch-form")

    # sign-out forgets the secret and goes back to the sign-in form, also after a reload
    c.click("#signout")
    c.visible("#signin")
    c.gone("#nav")
    assert c.storage("sessionStorage") == {}, c.storage("sessionStorage")
    assert not any(kiln.server.secret_key in str(v) for v in c.storage("localStorage").values())
    c.d.refresh()
    c.visible("#signin")
    assert not c.shown("#nav")
    assert c.find("#secret-key").get_attribute("value") == ""
    c.assert_no_console_errors(http_statuses=(401,))


# ------------------------------------------------------------------------------------------------
# errors: JD's message and the request id
# ------------------------------------------------------------------------------------------------

def test_bad_instance_name_shows_jd_error(console, kiln):
    c = console
    e = expect_error(create_instances_resp(kiln.vm, BASE_IMAGE, name="!bad name"), 400, "INVALID_ARGUMENT")
    c.open()
    c.sign_in()
    c.signed_in()
    c.click("#launch-open")
    c.visible("#launch-form")
    c.fill("#launch-name", "!bad name")
    c.choose("#launch-image", BASE_IMAGE)
    c.click("#launch-submit")
    assert_error_shown(c.error(), e)
    c.dismiss_error()
    # nothing was made
    assert ok(kiln.vm.send(DescribeInstancesRequest(DescribeInstancesParameters(REGION))))["totalCount"] == 0
    c.assert_no_console_errors(http_statuses=(400,))


# ------------------------------------------------------------------------------------------------
# the image workflow: launch, bake with one disk excluded and one inserted, launch from it
# ------------------------------------------------------------------------------------------------

def launch(c, name, image, system_disk=None, data_disks=()):
    """Launch through #launch-form; returns the new instance's id (its row in #instances-table)."""
    c.go("instances")
    c.click("#launch-open")
    c.visible("#launch-form")
    c.fill("#launch-name", name)
    c.choose("#launch-image", image)
    if system_disk:
        c.choose("#launch-system-disk", system_disk)
    for i, (disk_type, size) in enumerate(data_disks):
        c.click("#launch-add-disk")
        c.until(lambda: len(c.find_all("#launch-form .launch-disk")) == i + 1, "data disk row %d" % (i + 1))
        row = c.find_all("#launch-form .launch-disk")[i]
        c.choose(".disk-type", disk_type, row)
        c.fill(".disk-size", size, row)
    return c  # the caller submits (and may take a picture first)


def submitted_instance(c, name):
    c.click("#launch-submit")
    c.gone("#launch-form")
    assert not c.shown("#error"), c.error()
    c.go("instances")
    return c.row_named("instances-table", name)


def test_image_workflow(console, kiln):
    c = console
    c.open()
    c.sign_in()
    c.signed_in()

    # 1. an instance from the public image: cloud system disk and two data disks
    src_name = uniq("src")
    launch(c, src_name, BASE_IMAGE, "cloud", [("ssd.gp1", 20), ("hdd.std1", 30)])
    c.screenshot("launch-form")
    src = submitted_instance(c, src_name)
    assert src.startswith("i-"), src
    c.wait_cell("instances-table", src, "status", "running")
    assert sorted(c.devices("instances-table", src)) == ["vda", "vdb", "vdc"], c.cell("instances-table", src, "disks")
    inst = ok(describe_instance(kiln.vm, src))["instance"]
    assert inst["systemDisk"]["diskCategory"] == "cloud", inst["systemDisk"]
    assert data_devices(inst) == ["vdb", "vdc"], inst["dataDisks"]
    sizes = {d["deviceName"]: (d["cloudDisk"]["diskType"], d["cloudDisk"]["diskSizeGB"]) for d in inst["dataDisks"]}
    assert sizes == {"vdb": ("ssd.gp1", 20), "vdc": ("hdd.std1", 30)}, sizes

    # 2. the image editor: vdc excluded, a new blank disk inserted as vdd
    c.click(".act-create-image", c.row("instances-table", src))
    c.visible("#image-form")
    rule_devs = sorted(r.get_attribute("data-device") for r in c.find_all("#image-form tr.rule-row:not(.inserted)"))
    assert rule_devs == ["vdb", "vdc"], rule_devs

    def layout():
        return [(d.get_attribute("data-device"), d.get_attribute("data-source"))
                for d in c.find_all("#layout .layout-disk")]

    c.until(lambda: layout() == [("vda", "instance"), ("vdb", "instance"), ("vdc", "instance")],
            "the unchanged layout (now %r)" % (layout(),))
    c.choose(".rule", "exclude", c.find('#image-form tr.rule-row[data-device="vdc"]'))
    c.until(lambda: [d for d, _ in layout()] == ["vda", "vdb"], "vdc to leave #layout (now %r)" % (layout(),))
    c.click("#rule-insert")
    ins = c.until(lambda: c.find("#image-form tr.rule-row.inserted"), "the inserted rule row")
    c.choose(".insert-device", "vdd", ins)
    c.choose(".disk-type", "ssd.gp1", ins)
    c.fill(".disk-size", 40, ins)
    want = [("vda", "instance"), ("vdb", "instance"), ("vdd", "new")]
    c.until(lambda: layout() == want, "#layout to show %r (now %r)" % (want, layout()))

    # a bad image name: JD's message and the request id, and the editor keeps its rules
    bad = expect_error(create_image_resp(kiln.vm, src, "!x"), 400, "INVALID_ARGUMENT")
    c.fill("#image-name", "!x")
    c.click("#image-submit")
    assert_error_shown(c.error(), bad)
    c.dismiss_error()
    assert layout() == want, layout()

    img_name = uniq("baked")
    c.fill("#image-name", img_name)
    c.fill("#image-description", "two of three data disks, one of them new")
    # the picture shows the editor's rules and the #layout below them
    c.d.execute_script("arguments[0].scrollIntoView({block: 'end'})", c.find("#image-submit"))
    c.screenshot("image-editor")
    c.click("#image-submit")
    c.gone("#image-form")
    assert not c.shown("#error"), c.error()

    # 3. the images page until the row reads ready
    c.go("images")
    c.click("#tab-private")
    img = c.row_named("images-table", img_name)
    assert img.startswith("img-"), img
    c.wait_cell("images-table", img, "status", "ready")
    view = ok(describe_image(kiln.vm, img))["image"]
    assert view["status"] == "ready" and view["instanceId"] == src, view
    assert data_devices(view) == ["vdb", "vdd"], "vdc excluded, vdd inserted: %r" % view["dataDisks"]
    disks = {d["deviceName"]: d["cloudDisk"] for d in view["dataDisks"]}
    assert disks["vdb"]["snapshotId"].startswith("snapshot-"), disks["vdb"]
    assert (disks["vdb"]["diskType"], disks["vdb"]["diskSizeGB"]) == ("ssd.gp1", 20), disks["vdb"]
    assert disks["vdd"]["snapshotId"] == "", "vdd is a new blank disk: %r" % disks["vdd"]
    assert (disks["vdd"]["diskType"], disks["vdd"]["diskSizeGB"]) == ("ssd.gp1", 40), disks["vdd"]

    # 4. launch from it (the row's launch button preselects the image)
    c.click(".act-launch", c.row("images-table", img))
    c.visible("#launch-form")
    sel = Select(c.find("#launch-image"))
    assert sel.first_selected_option.get_attribute("value") == img, sel.first_selected_option.get_attribute("value")
    new_name = uniq("copy")
    c.fill("#launch-name", new_name)
    new = submitted_instance(c, new_name)
    c.wait_cell("instances-table", new, "status", "running")
    assert sorted(c.devices("instances-table", new)) == ["vda", "vdb", "vdd"], c.cell("instances-table", new, "disks")
    launched = ok(describe_instance(kiln.vm, new))["instance"]
    assert launched["imageId"] == img, launched
    assert data_devices(launched) == ["vdb", "vdd"], launched["dataDisks"]
    ldisks = {d["deviceName"]: d["cloudDisk"] for d in launched["dataDisks"]}
    assert ldisks["vdb"]["snapshotId"] == disks["vdb"]["snapshotId"], ldisks["vdb"]
    assert (ldisks["vdd"]["diskType"], ldisks["vdd"]["diskSizeGB"]) == ("ssd.gp1", 40), ldisks["vdd"]
    c.assert_no_console_errors(http_statuses=(400,))


# ------------------------------------------------------------------------------------------------
# every page, with a picture of each
# ------------------------------------------------------------------------------------------------

def _import_task(kiln, tmp_path):
    """An importImage task (for the tasks page): a small qcow2 under the server's --file-root."""
    src = tmp_path / "import.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(src), "64M"], check=True)
    p = ImportImageParameters(REGION, "x86_64", "linux", "Ubuntu", "qcow2", 40, "file://%s" % src, uniq("imported"))
    return ok(kiln.vm.send(ImportImageRequest(p)))


def _kiln_cli(kiln, *args):
    return subprocess.run([str(kiln.server.bin)] + list(args) + ["--data-dir", str(kiln.data_dir)],
                          check=True, capture_output=True, text=True, timeout=30).stdout


def _other_account_images(kiln):
    """A second account bakes two images: one shared with the signed-in account, one released to
    the community (for the images page's shared and community tabs). Returns (shared, community)."""
    keys = json.loads(_kiln_cli(kiln, "account", "create", "--name", uniq("neighbour")))
    other = VmClient(Credential(keys["accessKey"], keys["secretKey"]),
                     Config(kiln.server.endpoint, scheme=SCHEME_HTTP, timeout=20), QuietLogger())
    (mine,) = [a["pin"] for a in json.loads(_kiln_cli(kiln, "account", "list", "--output", "json"))
               if a["accessKey"] == kiln.server.access_key]
    (iid,) = ok(create_instances_resp(other, BASE_IMAGE, name=uniq("theirs")))["instanceIds"]
    wait_instance_status(other, iid, "running")
    shared = ok(create_image_resp(other, iid, uniq("shared")))["imageId"]
    wait_image_status(other, shared, "ready")  # one createImage at a time per instance
    community = ok(create_image_resp(other, iid, uniq("community")))["imageId"]
    wait_image_status(other, community, "ready")
    sp = ShareImageParameters(REGION, shared)
    sp.setPins([mine])
    ok(other.send(ShareImageRequest(sp)), allow_empty=True)
    ok(other.send(ReleaseImageRequest(ReleaseImageParameters(REGION, community))), allow_empty=True)
    return shared, community


def test_every_page(console, kiln, tmp_path):
    c = console
    vm, disk = kiln.vm, kiln.disk
    shared, community = _other_account_images(kiln)
    # something on every page, made through the SDK
    (iid,) = ok(create_instances_resp(vm, BASE_IMAGE, name=uniq("web"),
                                      data_disks=[cloud_data_disk("vdb", 20)]))["instanceIds"]
    wait_instance_status(vm, iid, "running")
    baked = ok(create_image_resp(vm, iid, uniq("baked")))["imageId"]
    (vol,) = ok(create_disks_resp(disk, uniq("data"), size_gb=20))["diskIds"]
    wait_disk_status(disk, vol, "available")
    snap = ok(create_snapshot_resp(disk, vol, uniq("snap")))["snapshotId"]
    imported = _import_task(kiln, tmp_path)
    wait_image_status(vm, baked, "ready")
    wait_snapshot_status(disk, snap, "available")

    c.open()
    c.screenshot("signin")
    c.sign_in()
    c.signed_in()

    c.go("instances")
    c.wait_cell("instances-table", iid, "status", "running")
    assert c.cell("instances-table", iid, "image"), "no image shown"
    assert sorted(c.devices("instances-table", iid)) == ["vda", "vdb"], c.cell("instances-table", iid, "disks")
    c.screenshot("instances")

    c.go("images")
    c.click("#tab-private")
    c.wait_cell("images-table", baked, "status", "ready")
    c.until(lambda: imported["imageId"] in c.rows("images-table"), "the imported image's row")
    c.screenshot("images")
    assert shared not in c.rows("images-table") and community not in c.rows("images-table")
    for tab, want in (("shared", shared), ("community", community), ("public", BASE_IMAGE)):
        c.click("#tab-" + tab)
        c.until(lambda: set(c.rows("images-table")) == {want} if tab != "public"
                else want in c.rows("images-table") and baked not in c.rows("images-table"),
                "the %s tab to list %s (lists %r)" % (tab, want, list(c.rows("images-table"))))
        c.wait_cell("images-table", want, "status", "ready")
        assert not c.shown("#error"), c.error()
        c.screenshot("images-" + tab)
    c.click("#tab-private")
    c.until(lambda: baked in c.rows("images-table"), "the private tab again")

    c.go("disks")
    c.until(lambda: vol in c.rows("disks-table"), "disk %s" % vol)
    c.wait_cell("disks-table", vol, "status", "available")
    assert "20" in c.cell("disks-table", vol, "size"), c.cell("disks-table", vol, "size")
    assert len(c.rows("disks-table")) >= 3, "the instance's vda and vdb and the free disk: %r" % list(c.rows("disks-table"))
    c.screenshot("disks")

    c.go("snapshots")
    c.until(lambda: snap in c.rows("snapshots-table"), "snapshot %s" % snap)
    c.wait_cell("snapshots-table", snap, "status", "available")
    assert vol in c.cell("snapshots-table", snap, "disk"), c.cell("snapshots-table", snap, "disk")
    c.screenshot("snapshots")

    c.go("tasks")
    task = str(imported["taskId"])
    c.until(lambda: task in c.rows("tasks-table"), "import task %s" % task)
    c.wait_cell("tasks-table", task, "status", "finished")
    c.screenshot("tasks")

    c.go("quotas")
    quotas = {q["resourceType"]: q for q in ok(vm.send(DescribeQuotasRequest(DescribeQuotasParameters(REGION))))["quotas"]}

    def bars():
        out = {}
        for b in c.find_all(".quota-bar[data-resource]"):
            used, limit = _text(c.find(".used", b)), _text(c.find(".limit", b))
            out[b.get_attribute("data-resource")] = (int(used), int(limit), b)
        return out
    got = c.until(lambda: (lambda b: b if {"instance", "disk", "snapshot", "image"} <= set(b) else None)(bars()),
                  "quota bars for instance, disk, snapshot and image")
    for res, (used, limit, bar) in got.items():
        assert 0 <= used <= limit and limit > 0, (res, used, limit)
        assert c.find_all("progress", bar) or c.find_all("[style*='width']", bar), "no bar in %s" % res
        if res in quotas:
            assert (used, limit) == (quotas[res]["used"], quotas[res]["limit"]), (res, used, limit, quotas[res])
    assert got["instance"][0] == 1, got["instance"][:2]  # the other account's instance is not ours
    c.screenshot("quotas")

    c.assert_no_console_errors()
