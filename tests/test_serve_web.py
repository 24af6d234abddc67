"""The web page in real headless Chromium (Debian's package, driven by Playwright): pick the example
image, ask in Chinese, see the answer, the structure drawn and its SMILES; ask a follow-up; paste an image."""

import os

import pytest
from browser import browser_page

from chemvlm.engines import load_engine
from chemvlm.serve import ServeConfig, create_app
from chemvlm.serve.background import serving

EXAMPLE = "examples/uspto-US07314934-C00124.png"
CANONICAL = "CSc1nc(-c2ccccc2F)c2ccc(=O)n(C)c2n1"


@pytest.fixture(scope="module")
def page():
    with serving(create_app(load_engine("osra"), ServeConfig(model_name="osra"))) as url, browser_page(url) as page:
        yield page


def test_pick_image_ask_in_chinese_and_see_the_structure(page, request):
    page.wait_for_selector("#model:has-text('osra')")
    page.set_input_files("#file", str(request.config.rootpath / EXAMPLE))
    page.wait_for_selector("#preview[src^='data:image/png']")
    page.click("button.example:has-text('中文')")
    page.click("#send")
    page.wait_for_selector("#structure:visible")
    answer = page.inner_text("#history .turn:last-child .a")
    assert "分子式" in answer and CANONICAL in answer
    assert page.inner_text("#smiles") == CANONICAL
    assert page.inner_text("#formula") == "C15H12FN3OS"
    assert page.get_attribute("#structure", "src").startswith("data:image/svg+xml")
    page.click("#copy")
    assert page.evaluate("navigator.clipboard.readText()") == CANONICAL


def test_follow_up_question_uses_the_same_image_and_keeps_the_history(page):
    page.fill("#question", "What is its molecular weight?")
    page.press("#question", "Enter")
    page.wait_for_selector("#history .turn:nth-child(2) .a:has-text('301.35')")
    assert page.locator("#history .turn").count() == 2
    assert page.is_hidden("#error")
    if os.environ.get("CHEMVLM_SCREENSHOT"):  # how docs/web-page.png is made
        page.screenshot(path=os.environ["CHEMVLM_SCREENSHOT"], full_page=True)


def test_pasted_image_is_taken_and_a_server_error_is_shown_in_one_line(page):
    page.click("#new")
    assert page.locator("#history .turn").count() == 0
    # paste a 1x1 GIF through a real ClipboardEvent, then ask: osra finds no structure in it
    page.evaluate("""() => {
        const bytes = Uint8Array.from(atob('R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs='), c => c.charCodeAt(0));
        const data = new DataTransfer();
        data.items.add(new File([bytes], 'dot.gif', {type: 'image/gif'}));
        document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data}));
    }""")
    page.wait_for_selector("#preview[src^='data:image/gif']")
    page.fill("#question", "What is this?")
    page.click("#send")
    page.wait_for_selector("#no-structure:has-text('No valid structure')")
    assert "No chemical structure" in page.inner_text("#history .turn:last-child .a")
