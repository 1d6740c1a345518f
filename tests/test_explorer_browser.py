"""Specification of the explorer page (``viz.explore``) in a real browser: headless Chromium
driven by selenium opens pages written for small recurrent models and clicks the page's own
buttons, slider and graph nodes. The page must load without console errors, draw every
picture node once, replay backward in exactly the engine's order, show a clicked node's
numbers, focus the time step the slider points at, open a 10^4-op graph within seconds, and
show names containing markup as text.

Skipped, with the reason, where selenium, Chromium or chromedriver is missing (Debian:
``apt-get install chromium chromium-driver``; ``pip install selenium``).
"""
from __future__ import annotations

import contextlib
import json
import re
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz
from tinygrad_rnn.viz.dot import _Walk
from tinygrad_rnn.viz.record import record_for

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.actions.wheel_input import ScrollOrigin  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

EVIL_NAME = '</script><img src=x onerror="window.pwned=1">'
EVIL_TAG = '<b>gate</b> & "q"'
PROGRAM = "0: t0 = matmul(x, w)\n1: t1 = tanh(t0)  </pre><b>not markup</b>"
LARGE_STEPS = 840  # an LSTM over this many steps records over 10^4 ops
LOAD_LIMIT_S = 10.0  # generous for CI: the page opens in about a second here


def _executable(*names: str) -> str | None:
    return next((path for path in map(shutil.which, names) if path), None)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module, from the system's chromium and chromedriver
    (selenium is never allowed to download a browser or driver)."""
    chromium = _executable("chromium", "chromium-browser")
    driver_path = _executable("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip("Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=options)
    yield driver
    driver.quit()


# ---- pages ---------------------------------------------------------------------------------------
def _page_data(page: str) -> dict:
    """The JSON the page carries (what its script reads)."""
    return json.loads(re.search(r'id="tg-data">(.*?)</script>', page, re.S).group(1))


def _recurrent_page(folder: Path, cell: str, steps: int, detailed: bool = True) -> SimpleNamespace:
    """A ``cell`` layer over ``steps`` time steps with a linear read-out, its backward run
    (inside ``viz.recording()`` when ``detailed``) and its page."""
    tg.manual_seed(0)
    layer, head = getattr(nn, cell)(2, 3), nn.Linear(3, 1)
    model = nn.ModuleDict({"rnn": layer, "head": head})
    with viz.recording() if detailed else contextlib.nullcontext():
        out, _ = layer(tg.randn(steps, 1, 2))
        loss = ((head(out[-1]) - 1.0) ** 2).mean()
        loss.backward()
    path = folder / f"{cell}_{steps}_{'detailed' if detailed else 'plain'}.html"
    explorer = viz.explore(loss, path=str(path), params=model)
    return SimpleNamespace(loss=loss, model=model, path=path, data=_page_data(explorer.html))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("explorer")


@pytest.fixture(scope="module")
def rnn_page(folder):
    return _recurrent_page(folder, "RNN", 3)


@pytest.fixture(scope="module")
def lstm_page(folder):
    return _recurrent_page(folder, "LSTM", 2)


@pytest.fixture(scope="module")
def plain_page(folder):
    return _recurrent_page(folder, "RNN", 3, detailed=False)


@pytest.fixture(scope="module")
def large_page(folder):
    return _recurrent_page(folder, "LSTM", LARGE_STEPS, detailed=False)


@pytest.fixture(scope="module")
def unrecorded_page(folder):
    """A linear layer without time steps, explored with ``record=False``: no stepper, one view."""
    tg.manual_seed(0)
    model = nn.Linear(2, 1)
    loss = model(tg.randn(4, 2)).sum()
    path = folder / "linear.html"
    explorer = viz.explore(loss, path=str(path), params=model, record=False)
    return SimpleNamespace(loss=loss, path=path, data=_page_data(explorer.html))


@pytest.fixture(scope="module")
def markup_page(folder):
    """An input named with a script-ending tag and an image, a value tagged with markup, and a
    program listing with markup in it."""
    with viz.recording():
        x = tg.tensor([1.0, -2.0, 0.5], requires_grad=True, name=EVIL_NAME)
        loss = viz.tag((x * 2.0).tanh(), EVIL_TAG).sum()
        loss.backward()
    path = folder / "markup.html"
    explorer = viz.explore(loss, path=str(path), title="<i>title</i>", program=PROGRAM)
    return SimpleNamespace(loss=loss, path=path, data=_page_data(explorer.html))


# ---- talking to the page -------------------------------------------------------------------------
def open_page(driver, path: Path) -> float:
    """Open ``path`` and wait for the explorer to be ready; returns the seconds that took."""
    driver.get_log("browser")  # drop what earlier pages logged
    start = time.perf_counter()
    driver.get(path.as_uri())
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return !!(window.tgExplorer && tgExplorer.ready)"))
    return time.perf_counter() - start


def console_problems(driver) -> list:
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]


def state(driver) -> dict:
    return driver.execute_script("return tgExplorer.state()")


def titles(driver, view: str, selector: str) -> list[str]:
    """The titles (picture names) of the elements matching ``selector`` in ``view``."""
    return driver.execute_script(
        "return [...document.querySelectorAll(`.tg-view[data-view='${arguments[0]}'] ${arguments[1]}`)]"
        ".map(g => g.querySelector(':scope > title').textContent)", view, selector)


def node_element(driver, view: str, name: str):
    return driver.execute_script(
        "return [...document.querySelectorAll(`.tg-view[data-view='${arguments[0]}'] g.node`)]"
        ".find(g => g.querySelector(':scope > title').textContent === arguments[1])", view, name)


def click(driver, css: str) -> None:
    driver.find_element(By.CSS_SELECTOR, css).click()


def panel_numbers(driver, heading: str) -> list[float]:
    """The numbers in the rows named ``heading`` (e.g. "norm") of the node panel's tables."""
    texts = driver.execute_script(
        "return [...document.querySelectorAll('.tg-node tr')].filter(r => r.cells[0].textContent === arguments[0])"
        ".map(r => r.cells[1].textContent)", heading)
    return [float(text) for text in texts]


def drawn_names(picture) -> list[str]:
    """The node names in a ``to_dot`` picture's DOT source (node statements, not edges)."""
    names = re.findall(r'^\s*("?)([\w]+)\1 \[', picture.source, re.M)
    return [name for _, name in names if name not in ("graph", "node", "edge")]


# ---- the specification ---------------------------------------------------------------------------
@pytest.mark.parametrize("page", ["rnn_page", "lstm_page", "plain_page", "markup_page", "unrecorded_page"])
def test_page_opens_without_console_errors_or_warnings(browser, request, page):
    open_page(browser, request.getfixturevalue(page).path)
    browser.execute_script("tgExplorer.step(3); tgExplorer.select('leaf0'); tgExplorer.prev()")
    assert console_problems(browser) == []


@pytest.mark.parametrize("page", ["rnn_page", "lstm_page"])
def test_every_picture_node_is_drawn_exactly_once_in_each_view(browser, request, page):
    run = request.getfixturevalue(page)
    open_page(browser, run.path)
    expanded = viz.to_dot(run.loss, params=run.model, group="timestep")
    collapsed = viz.to_dot(run.loss, params=run.model, collapse="timestep")
    assert sorted(titles(browser, "expanded", "g.node")) == sorted(drawn_names(expanded))
    assert sorted(titles(browser, "collapsed", "g.node")) == sorted(drawn_names(collapsed))


@pytest.mark.parametrize("page", ["rnn_page", "plain_page"])
def test_the_pages_steps_are_the_engines_backward_order(request, page):
    run = request.getfixturevalue(page)
    walk = _Walk([run.loss])
    engine_order = [walk.op_name(node) for node in record_for(run.loss).order]
    assert [step["node"] for step in run.data["backward"]["steps"]] == engine_order


@pytest.mark.parametrize("page", ["rnn_page", "plain_page"])
def test_next_button_visits_the_nodes_in_the_recorded_order(browser, request, page):
    run = request.getfixturevalue(page)
    open_page(browser, run.path)
    recorded = [step["node"] for step in run.data["backward"]["steps"]]
    visited = []
    for _ in recorded:
        click(browser, ".tg-next")
        visited += titles(browser, "expanded", "g.node.tg-current")
    assert visited == recorded
    assert not browser.find_element(By.CSS_SELECTOR, ".tg-next").is_enabled()  # the last step
    assert state(browser)["visited"] == recorded
    done = set(recorded[:-1])  # and the values (gates, states) those ops made
    done |= {f"value{name[2:]}" for name in done if f"value{name[2:]}" in run.data["nodes"]}
    assert sorted(titles(browser, "expanded", "g.node.tg-done")) == sorted(done)


def test_a_step_lights_the_edges_its_gradient_goes_out_on_labelled_with_their_norms(browser, rnn_page):
    open_page(browser, rnn_page.path)
    steps = rnn_page.data["backward"]["steps"]
    index = next(i for i, step in enumerate(steps) if len(step["sends"]) >= 2)
    browser.execute_script("tgExplorer.step(arguments[0])", index)
    sends = steps[index]["sends"]
    assert sorted(titles(browser, "expanded", "g.edge.tg-send")) == sorted(f"{a}->{b}" for a, b in
                                                                             (s["edge"] for s in sends))
    labels = browser.execute_script("return [...document.querySelectorAll("
                                    "\"[data-view='expanded'] .tg-edge-label\")].map(t => +t.textContent)")
    assert sorted(labels) == pytest.approx(sorted(s["norm"] for s in sends), rel=1e-3)


def test_the_panel_sums_the_arrivals_into_the_received_gradient(browser, rnn_page):
    open_page(browser, rnn_page.path)
    steps = rnn_page.data["backward"]["steps"]
    index = next(i for i, step in enumerate(steps) if len(step["arrivals"]) >= 2)
    browser.execute_script("tgExplorer.step(arguments[0])", index)
    rows = browser.execute_script("return [...document.querySelectorAll('.tg-stepper table.tg-sum')[0].rows]"
                                  ".map(r => [r.cells[1].textContent, +r.cells[2].textContent])")
    arrivals = steps[index]["arrivals"]
    assert [text for text, _ in rows[:-1]] == [f"from {_describe(rnn_page, a['from'])}" for a in arrivals]
    assert [norm for _, norm in rows] == pytest.approx([a["norm"] for a in arrivals] + [steps[index]["received"]],
                                                       rel=1e-3)


def _describe(run, name: str) -> str:
    facts = run.data["nodes"][name]
    return facts["label"] + (f", t={facts['step']}" if facts["step"] is not None else "") + f" ({name})"


def test_clicking_a_node_shows_its_value_and_gradient(browser, lstm_page):
    open_page(browser, lstm_page.path)
    click(browser, ".tg-fit")
    nodes, steps = lstm_page.data["nodes"], lstm_page.data["backward"]["steps"]
    name = next(n for n, f in nodes.items() if f["kind"] == "value" and f["label"] == "forget gate")
    node_element(browser, "expanded", name).click()
    gradient = next(step["grad"] for step in steps if step["node"] == nodes[name]["of"])
    assert state(browser)["selected"] == name
    assert titles(browser, "expanded", "g.node.tg-selected") == [name]
    assert browser.find_element(By.CSS_SELECTOR, ".tg-node h3").text.startswith("forget gate")
    assert panel_numbers(browser, "norm") == pytest.approx([nodes[name]["value"]["norm"], gradient["norm"]], rel=1e-3)
    assert "d sigmoid(x)/dx" in browser.find_element(By.CSS_SELECTOR, ".tg-node pre").text


def test_moving_the_time_step_slider_focuses_that_step(browser, rnn_page):
    open_page(browser, rnn_page.path)
    times = rnn_page.data["timesteps"]["steps"]
    slider = browser.find_element(By.CSS_SELECTOR, ".tg-slider")
    for expected in (1, 2):
        before = browser.execute_script("return document.querySelector(\"[data-view='expanded'] svg\")"
                                        ".getAttribute('viewBox')")
        slider.send_keys(Keys.ARROW_RIGHT)
        assert state(browser)["focusedStep"] == expected
        assert titles(browser, "expanded", "g.cluster.tg-focus") == [times[expected]["cluster"]]
        assert titles(browser, "collapsed", "g.node.tg-focus") == [times[expected]["stepNode"]]
        assert browser.execute_script("return document.querySelector(\"[data-view='expanded'] svg\")"
                                      ".getAttribute('viewBox')") != before
    assert state(browser)["step"] == -1  # the arrow keys moved the slider, not the stepper


def test_the_view_button_collapses_time_steps_and_marks_the_current_nodes_step(browser, rnn_page):
    open_page(browser, rnn_page.path)
    steps, nodes = rnn_page.data["backward"]["steps"], rnn_page.data["nodes"]
    index = next(i for i, step in enumerate(steps) if nodes[step["node"]]["step"] == 1)
    browser.execute_script("tgExplorer.step(arguments[0])", index)
    click(browser, ".tg-switch")
    step_node = next(n for n, f in nodes.items() if f["kind"] == "step" and steps[index]["node"] in f["members"])
    assert state(browser)["view"] == "collapsed"
    assert browser.find_element(By.CSS_SELECTOR, "[data-view='collapsed']").is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, "[data-view='expanded']").is_displayed()
    assert titles(browser, "collapsed", "g.node.tg-current") == [step_node]
    click(browser, ".tg-switch")
    assert state(browser)["view"] == "expanded"


def test_zoom_buttons_scale_the_view_and_fit_shows_the_whole_graph(browser, rnn_page):
    open_page(browser, rnn_page.path)
    box = lambda: browser.execute_script(  # noqa: E731
        "const b = document.querySelector(\"[data-view='expanded'] svg\").viewBox.baseVal;"
        "return [b.x, b.y, b.width, b.height]")
    width = box()[2]
    click(browser, ".tg-zoom-in")
    assert box()[2] == pytest.approx(width / 1.25)
    click(browser, ".tg-zoom-out")
    assert box()[2] == pytest.approx(width)
    click(browser, ".tg-fit")
    x, y, w, h = box()
    page = rnn_page.path.read_text(encoding="utf-8")
    drawing = re.search(r'data-view="expanded"><svg[^>]*viewBox="([^"]+)"', page).group(1)
    left, top, width, height = map(float, drawing.split())
    assert x <= left and y <= top and x + w >= left + width and y + h >= top + height


def test_dragging_pans_and_the_wheel_zooms_about_the_pointer(browser, rnn_page):
    open_page(browser, rnn_page.path)
    graph = browser.find_element(By.ID, "tg-graph")
    box = lambda: browser.execute_script(  # noqa: E731
        "const b = document.querySelector(\"[data-view='expanded'] svg\").viewBox.baseVal;"
        "return [b.x, b.y, b.width, b.height]")
    x, y, width, height = box()
    scale = graph.size["width"] / width  # screen pixels per graph unit
    ActionChains(browser).click_and_hold(graph).move_by_offset(100, 50).release().perform()
    assert box() == pytest.approx([x - 100 / scale, y - 50 / scale, width, height], abs=0.5)
    assert state(browser)["selected"] is None  # a drag is not a click
    ActionChains(browser).scroll_from_origin(ScrollOrigin.from_element(graph), 0, -300).perform()
    assert box()[2] < width


def test_arrow_keys_step_and_space_plays_and_pauses(browser, rnn_page):
    open_page(browser, rnn_page.path)
    keys = lambda *pressed: ActionChains(browser).send_keys(*pressed).perform()  # noqa: E731
    keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_LEFT)
    assert state(browser)["step"] == 0
    Select(browser.find_element(By.CSS_SELECTOR, ".tg-speed")).select_by_value("30")
    browser.execute_script("document.activeElement.blur()")  # keys go to the page, not the menu
    keys(Keys.SPACE)
    WebDriverWait(browser, 5).until(lambda d: state(d)["step"] >= 3)
    keys(Keys.SPACE)
    paused_at = state(browser)["step"]
    time.sleep(0.2)
    assert state(browser)["step"] == paused_at


def test_a_graph_of_ten_thousand_ops_opens_collapsed_within_seconds(browser, large_page):
    assert large_page.data["opCount"] >= 10_000
    assert open_page(browser, large_page.path) < LOAD_LIMIT_S
    assert state(browser)["view"] == "collapsed"
    assert browser.find_element(By.CSS_SELECTOR, ".tg-elided").text == large_page.data["elided"]
    steps = large_page.data["backward"]["steps"]
    browser.execute_script("tgExplorer.step(arguments[0])", len(steps) // 2)
    node = steps[len(steps) // 2]["node"]
    step_node = next(n for n, f in large_page.data["nodes"].items() if f["kind"] == "step" and node in f["members"])
    assert titles(browser, "collapsed", "g.node.tg-current") == [step_node]
    assert console_problems(browser) == []


def test_names_with_markup_are_shown_as_text_and_never_run(browser, markup_page):
    open_page(browser, markup_page.path)
    assert browser.execute_script("return [document.images.length, typeof window.pwned, document.title]") == \
        [0, "undefined", "<i>title</i>"]
    click(browser, ".tg-fit")
    node_element(browser, "expanded", "leaf0").click()
    assert browser.find_element(By.CSS_SELECTOR, ".tg-node h3").text.startswith(EVIL_NAME)
    tagged = next(n for n, f in markup_page.data["nodes"].items() if f["kind"] == "value")
    node_element(browser, "expanded", tagged).click()
    assert browser.find_element(By.CSS_SELECTOR, ".tg-node h3").text.startswith(EVIL_TAG)
    links = set()
    for _ in markup_page.data["backward"]["steps"]:  # the stepper names the nodes it sends to
        click(browser, ".tg-next")
        links |= {link.text for link in browser.find_elements(By.CSS_SELECTOR, ".tg-stepper .tg-link")}
    assert {f"{EVIL_NAME} (leaf0)", f"{EVIL_TAG} ({tagged})"} <= links
    assert browser.find_elements(By.CSS_SELECTOR, "b, img") == []
    assert browser.execute_script("return typeof window.pwned") == "undefined"


def test_a_programs_listing_is_shown_as_text_in_a_collapsible_block(browser, markup_page):
    open_page(browser, markup_page.path)
    listing = browser.find_element(By.CSS_SELECTOR, ".tg-program pre")
    assert not listing.is_displayed()
    click(browser, ".tg-program summary")
    assert listing.is_displayed() and listing.get_attribute("textContent") == PROGRAM


def test_a_page_without_backward_or_time_steps_says_so_and_offers_no_stepper(browser, unrecorded_page):
    assert unrecorded_page.data["backward"] is None and unrecorded_page.data["timesteps"] is None
    open_page(browser, unrecorded_page.path)
    assert "No backward pass" in browser.find_element(By.CSS_SELECTOR, ".tg-stepper").text
    assert browser.find_elements(By.CSS_SELECTOR, ".tg-next, .tg-slider, .tg-switch") == []


def test_a_plain_backward_page_says_what_it_lacks(browser, plain_page):
    open_page(browser, plain_page.path)
    note = plain_page.data["backward"]["note"]
    assert note and not plain_page.data["backward"]["detailed"]
    assert browser.find_element(By.CSS_SELECTOR, ".tg-stepper .tg-note").text == note
