"""End to end in a real headless browser (Debian's chromium + chromedriver, driven by Selenium):
the chat page exchanges messages between two tabs, the SSE page shows streamed events."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import Spawner

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip("chromium and chromedriver are not installed (Debian packages: chromium chromium-driver)",
                allow_module_level=True)

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the [test] extra)")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

WAIT = 30  # generous: chromium on a busy 2-core machine


def chrome(profile: Path, *extra: str):
    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--disable-extensions", "--no-first-run", "--disable-background-networking",
                "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows", f"--user-data-dir={profile}", *extra):
        opts.add_argument(arg)
    d = webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))
    d.set_page_load_timeout(WAIT)
    return d


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory):
    d = chrome(tmp_path_factory.mktemp("chromium-profile"))
    yield d
    d.quit()


def join_chat(driver, url: str, name: str) -> str:
    driver.get(url)
    name_box = driver.find_element(By.ID, "name")
    name_box.clear()
    name_box.send_keys(name)
    driver.find_element(By.ID, "join").click()
    WebDriverWait(driver, WAIT).until(
        lambda d: d.find_element(By.ID, "status").text == "connected to lobby")
    return driver.current_window_handle


def log_text(driver) -> str:
    return driver.find_element(By.ID, "log").text


def test_chat_between_two_tabs(spawn: Spawner, driver) -> None:
    srv = spawn.example("websocket_chat")
    alice = join_chat(driver, srv.url + "/", "alice")
    driver.switch_to.new_window("tab")
    bob = join_chat(driver, srv.url + "/", "bob")

    box = driver.find_element(By.ID, "text")
    box.send_keys("hello from bob")
    driver.find_element(By.ID, "send").click()
    WebDriverWait(driver, WAIT).until(lambda d: "bob: hello from bob" in log_text(d))

    driver.switch_to.window(alice)
    WebDriverWait(driver, WAIT).until(lambda d: "bob joined lobby" in log_text(d))
    WebDriverWait(driver, WAIT).until(lambda d: "bob: hello from bob" in log_text(d))
    driver.find_element(By.ID, "text").send_keys("hi bob, alice here")
    driver.find_element(By.ID, "send").click()

    driver.switch_to.window(bob)
    WebDriverWait(driver, WAIT).until(lambda d: "alice: hi bob, alice here" in log_text(d))
    driver.close()
    driver.switch_to.window(alice)
    WebDriverWait(driver, WAIT).until(lambda d: "bob left" in log_text(d))


def test_sse_page_shows_streamed_events(spawn: Spawner, driver) -> None:
    srv = spawn.example("sse_demo")
    driver.get(srv.url + "/")
    WebDriverWait(driver, WAIT).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#events li")) >= 3)
    assert driver.find_element(By.ID, "status").text == "streaming"
    items = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#events li")][:3]
    assert [t.split(":")[0] for t in items] == ["tick 1", "tick 2", "tick 3"]


def test_chat_two_workers_through_redis(spawn: Spawner, driver, redis_server) -> None:
    """Two pages served by different workers (pids shown in the join line) see each other."""
    import re

    from conftest import EXAMPLES, free_port

    port = free_port()
    srv = spawn.start([str(EXAMPLES / "websocket_chat.py"), "--host", "127.0.0.1", "--port", str(port),
                       "--workers", "2", "--broker", redis_server.url], ready_lines=2)

    def worker_of(name: str) -> str:
        WebDriverWait(driver, WAIT).until(lambda d: re.search(rf"{name} joined lobby \(worker \d+\)", log_text(d)))
        return re.findall(rf"{name} joined lobby \(worker (\d+)\)", log_text(driver))[-1]

    alice = join_chat(driver, srv.url + "/", "alice")
    alice_pid = worker_of("alice")
    driver.switch_to.new_window("tab")
    bob = join_chat(driver, srv.url + "/", "bob")
    for _ in range(30):  # SO_REUSEPORT picks the worker: join again until bob is on the other one
        if worker_of("bob") != alice_pid:
            break
        driver.find_element(By.ID, "join").click()
        WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, "status").text == "connected to lobby")
    bob_pid = worker_of("bob")
    assert bob_pid != alice_pid
    driver.find_element(By.ID, "text").send_keys("hello from bob")
    driver.find_element(By.ID, "send").click()
    driver.switch_to.window(alice)
    WebDriverWait(driver, WAIT).until(lambda d: f"bob joined lobby (worker {bob_pid})" in log_text(d))
    WebDriverWait(driver, WAIT).until(lambda d: "bob: hello from bob" in log_text(d))
    driver.find_element(By.ID, "text").send_keys("hi bob, alice here")
    driver.find_element(By.ID, "send").click()
    driver.switch_to.window(bob)
    WebDriverWait(driver, WAIT).until(lambda d: "alice: hi bob, alice here" in log_text(d))
    driver.close()
    driver.switch_to.window(alice)


def test_chat_over_https_and_wss(spawn: Spawner, tmp_path: Path) -> None:
    """An https page opening wss:// to the same server, with the test certificate trusted by
    its public key (Chromium's --ignore-certificate-errors-spki-list trusts exactly that key)."""
    import base64
    import hashlib

    import trustme
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    leaf = trustme.CA().issue_cert("localhost", "127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(cert)
    leaf.private_key_pem.write_to_path(key)
    spki = x509.load_pem_x509_certificate(cert.read_bytes()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    srv = spawn.start(["-m", "fasterapi", "run", "examples.websocket_chat:app", "--port", "0",
                       "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)])
    d = chrome(tmp_path / "profile", f"--ignore-certificate-errors-spki-list={pin}")
    try:
        url = f"https://localhost:{srv.port}/"
        alice = join_chat(d, url, "alice")
        assert d.execute_script("return location.protocol") == "https:"
        d.switch_to.new_window("tab")
        join_chat(d, url, "bob")
        d.find_element(By.ID, "text").send_keys("hello over wss")
        d.find_element(By.ID, "send").click()
        d.switch_to.window(alice)
        WebDriverWait(d, WAIT).until(lambda dr: "bob: hello over wss" in log_text(dr))
    finally:
        d.quit()
