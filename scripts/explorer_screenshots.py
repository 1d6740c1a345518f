"""Screenshots of the explorer page (``viz.explore``) for the README and docs/.

    python scripts/explorer_screenshots.py

Writes docs/figures/explorer_stepper.png (backward stepped halfway through an RNN),
explorer_node.png (a clicked LSTM gate), explorer_timesteps.png (the time-step slider on a
step, with the ||dL/dh_t|| curve) and explorer_collapsed.png (one node per time step).
Needs selenium and the system's Chromium and chromedriver (``apt-get install chromium
chromium-driver``); nothing is downloaded.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time

from selenium import webdriver

import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz
from tinygrad_rnn.nn import functional as F

from make_docs_pictures import Tiny  # a recurrent layer and a read-out of its last state

FIGURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "figures")
WINDOW = (1400, 860)


def write_page(folder: str, layer: type, steps: int) -> str:
    """Train nothing: one forward and backward of ``layer`` over ``steps`` steps, recorded in
    detail, and its explorer page; returns the page's path."""
    tg.manual_seed(0)
    model = Tiny(layer, hidden=3)
    with viz.recording():
        loss = F.mse_loss(model(tg.randn(steps, 1, 2)), tg.zeros(1, 1))
        loss.name = "loss"
        loss.backward()
    path = os.path.join(folder, f"{layer.__name__}_{steps}.html")
    viz.explore(loss, path=path, params=model, title=f"{layer.__name__} over {steps} time steps")
    return path


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                     f"--window-size={WINDOW[0]},{WINDOW[1]}"):
        options.add_argument(argument)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=options)


def shoot(driver: webdriver.Chrome, page: str, name: str, script: str) -> None:
    """Open ``page``, run ``script`` (JavaScript using the page's ``tgExplorer``), save the PNG."""
    driver.get("file://" + page)
    driver.execute_script(script)
    time.sleep(0.3)  # let the page paint
    path = os.path.join(FIGURES, name)
    driver.save_screenshot(path)
    print("wrote", path)


# JavaScript helpers run in the page: the data it carries, and the backward step halfway through
# whose node sums two arrivals (the clearest picture of accumulation)
FIND = """
const data = JSON.parse(document.getElementById('tg-data').textContent);
const steps = data.backward.steps, half = steps.length / 2;
const summing = steps.map((s, i) => i).filter(i => steps[i].arrivals.length > 1);
const middle = summing.reduce((a, b) => Math.abs(b - half) < Math.abs(a - half) ? b : a, summing[0]);
const named = (label, t) => Object.keys(data.nodes).find(n => data.nodes[n].label === label && data.nodes[n].step === t);
"""
ZOOM_IN = "document.querySelector('.tg-zoom-in').click();"  # the page's own + button


def main() -> None:
    os.makedirs(FIGURES, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        rnn, lstm = write_page(folder, nn.RNN, 5), write_page(folder, nn.LSTM, 4)
        driver = browser()
        try:
            shoot(driver, rnn, "explorer_stepper.png", FIND + "tgExplorer.step(middle); " + ZOOM_IN)
            shoot(driver, lstm, "explorer_node.png", FIND + "tgExplorer.step(middle); tgExplorer.select(named('forget gate', 1));")
            shoot(driver, rnn, "explorer_timesteps.png", FIND + "tgExplorer.step(middle); tgExplorer.focusTime(3);")
            shoot(driver, lstm, "explorer_collapsed.png",
                  FIND + "tgExplorer.setView('collapsed'); tgExplorer.step(middle); tgExplorer.select('step2');")
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
