"""The pages in headless chromium against the whole centre (the fake PBX, the call log): an agent
takes a call and wraps it up from the keyboard alone, the wallboard moves live, a supervisor
pauses an agent, an administrator's broken upload changes nothing and a good one is activated and
rolled back. axe-core finds no WCAG 2.1 AA violation on any page. Real time, a few seconds a
call: the browser's clicks are real."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from agents import AgentState
from store import schema
from store.database import Database
from telephony.fakepbx.actors import Caller

from .browser import LiveCentre, axe, chromium, need_browser, screenshot, violations_text
from .web_users import PASSWORDS, with_users
from .world import vaxeln_threshold_line

pytestmark = pytest.mark.usefixtures("browser_needed")


@pytest.fixture
def browser_needed() -> None:
    need_browser()


def log_in(driver: Any, url: str, user: str, then: str) -> None:
    """The login form from the keyboard: the user name has the focus; Tab, the password, Enter."""
    driver.get(f"{url}{then}")
    WebDriverWait(driver, 10).until(ec.presence_of_element_located((By.ID, "user")))
    assert driver.switch_to.active_element.get_attribute("id") == "user"
    driver.switch_to.active_element.send_keys(user, Keys.TAB)
    driver.switch_to.active_element.send_keys(PASSWORDS[user], Keys.ENTER)
    WebDriverWait(driver, 10).until(lambda d: d.current_url == f"{url}{then}")


def no_violations(driver: Any, page: str) -> None:
    found = axe(driver)
    assert not found, f"{page}: WCAG 2.1 AA violations:\n{violations_text(found)}"


def tab_to(driver: Any, element_id: str, most: int = 60) -> Any:
    """Tab (only Tab) until the element with that id has the focus: reachable by keyboard."""
    for _ in range(most):
        element = driver.switch_to.active_element
        if element.get_attribute("id") == element_id:
            return element
        element.send_keys(Keys.TAB)
    raise AssertionError(f"#{element_id} is not reached with Tab")


def text_of(driver: Any, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def wait_text(driver: Any, css: str, needle: str, seconds: float = 20) -> None:
    WebDriverWait(driver, seconds).until(lambda d: needle in text_of(d, css))


def test_an_agent_takes_a_call_and_wraps_it_up_from_the_keyboard(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    with LiveCentre(with_users(tmp_path), store=url) as centre, chromium() as driver:
        driver.get(f"{centre.url}/login")
        no_violations(driver, "login")
        screenshot(driver, "login-1280x800")
        log_in(driver, centre.url, "anna", "/agent")
        wait_text(driver, "[data-bind=state_text]", "Utloggad")
        no_violations(driver, "agent panel, logged out")
        tab_to(driver, "go-login").send_keys(Keys.ENTER)
        wait_text(driver, "[data-bind=state_text]", "Redo")
        # out of barn och utbildning for now, and in again: a checkbox, Space
        tab_to(driver, "group-barn-och-utbildning").send_keys(Keys.SPACE)
        centre.until(lambda w: set(w.ctl.router.agents["anna"].memberships) == {"vaxeln"})
        driver.switch_to.active_element.send_keys(Keys.SPACE)
        centre.until(lambda w: len(w.ctl.router.agents["anna"].memberships) == 2)
        centre.do(lambda w: w.phones["anna"].__setattr__("answer_after", 3.0))
        caller = Caller("2001", "0701112233", keys=((3.0, "0"),))  # växeln
        centre.do(lambda w: caller.dial(w.pbx))
        wait_text(driver, "[data-bind=caller]", "0701112233")
        assert "huvudmeny 0" in text_of(driver, "[data-bind=path]")
        assert "Växeln" in text_of(driver, "[data-bind=group_name]")
        assert "koppla rätt eller lös direkt" in text_of(driver, "[data-bind=script]")
        announced = driver.find_element(By.ID, "call-announce").get_attribute("textContent")
        assert "Samtal från 0701112233, Växeln" in announced
        no_violations(driver, "agent panel, a call")
        screenshot(driver, "agent-call-1280x800")
        # the call ends (the phone's 5 s of talk): the wrap-up, by keyboard
        centre.until(lambda w: w.ctl.router.agents["anna"].state is AgentState.WRAP_UP)
        wait_text(driver, "[data-bind=state_text]", "Efterarbete")
        tab_to(driver, "reason-rosa1").send_keys(Keys.ARROW_DOWN)  # radios: arrows choose
        assert driver.switch_to.active_element.get_attribute("id") == "reason-rosa2"
        tab_to(driver, "resolved-yes").send_keys(Keys.SPACE)
        tab_to(driver, "note").send_keys("Frågade om öppettider")
        tab_to(driver, "wrap-send").send_keys(Keys.ENTER)
        wait_text(driver, "#wrap-result", "registrerat")
        screenshot(driver, "agent-wrapped-up-1280x800")

        async def stored() -> list[dict[str, Any]]:
            assert centre.world is not None and centre.world.centre.store is not None
            await centre.world.centre.store.flush()
            db = await Database.open(url)
            try:
                return await db.rows(schema.wrap_ups)
            finally:
                await db.close()

        assert centre.loop is not None
        rows = asyncio.run_coroutine_threadsafe(stored(), centre.loop).result(30)
    assert [(r["agent"], r["reason"], r["resolved"], r["note"]) for r in rows] == [
        ("anna", "rosa2", True, "Frågade om öppettider")]


def test_the_wallboard_moves_live_when_a_call_arrives_and_is_answered(tmp_path: Path) -> None:
    with LiveCentre(with_users(tmp_path)) as centre, chromium(1920, 1080) as driver:
        log_in(driver, centre.url, "sara", "/wallboard")
        row = "#board tbody tr[data-id=vaxeln]"
        wait_text(driver, row, "Växeln")
        assert "Larm" in text_of(driver, row)  # open, and nobody logged in
        no_violations(driver, "wallboard")
        caller = Caller("2001", "0701112233", keys=((3.0, "0"),))
        centre.do(lambda w: caller.dial(w.pbx))
        WebDriverWait(driver, 20).until(
            lambda d: d.find_element(By.CSS_SELECTOR, f"{row} td").text == "1")
        screenshot(driver, "wallboard-waiting-1920x1080")
        centre.do(lambda w: w.ctl.agent_login("anna"))
        WebDriverWait(driver, 20).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, f"{row} td")[7].text == "1")  # talking
        cells = [c.text for c in driver.find_elements(By.CSS_SELECTOR, f"{row} td")]
        assert cells[0] == "0" and cells[1] == "0"  # nobody waiting now, no callback
        no_violations(driver, "wallboard, a call answered")
        screenshot(driver, "wallboard-1920x1080")


def test_a_supervisor_pauses_an_agent(tmp_path: Path) -> None:
    with LiveCentre(with_users(tmp_path)) as centre, chromium() as driver:
        centre.do(lambda w: w.ctl.agent_login("anna"))
        log_in(driver, centre.url, "sara", "/supervisor")
        wait_text(driver, "#agents tbody tr[data-id=anna]", "Redo")
        no_violations(driver, "supervisor")
        screenshot(driver, "supervisor-1280x800")
        driver.find_element(By.CSS_SELECTOR, "#reason-anna option[value=möte]").click()
        driver.find_element(By.CSS_SELECTOR, "button[aria-label='Pausa: Anna Andersson']").click()
        wait_text(driver, "#agents tbody tr[data-id=anna]", "Paus (möte)")
        agent = centre.do(lambda w: w.ctl.router.agents["anna"])
        assert (agent.state, agent.pause_reason) == (AgentState.PAUSED, "möte")
        # the crisis switch, for 30 minutes
        driver.find_element(By.ID, "crisis-minutes").send_keys("30")
        driver.find_element(By.ID, "crisis-on").click()
        wait_text(driver, "#crisis-state", "Krisläget är på till")
        assert centre.do(lambda w: (w.ctl.router.crisis, w.ctl.crisis_until is not None)) == (
            True, True)
        # a group closed by hand
        driver.find_element(By.CSS_SELECTOR, "#mode-bygglov option[value=closed]").click()
        driver.find_element(By.CSS_SELECTOR, "button[aria-label='Ändra: Bygglov']").click()
        wait_text(driver, "#groups tbody tr[data-id=bygglov]", "Stängd (manuellt)")
        assert centre.do(lambda w: w.ctl.opening()["bygglov"]) is False
        no_violations(driver, "supervisor, in a crisis")


def test_an_admin_uploads_a_broken_configuration_then_a_good_one_and_rolls_back(
        tmp_path: Path) -> None:
    folder = with_users(tmp_path)
    original = (folder / "vaxel.yaml").read_text()
    uploads = tmp_path / "uppladdning"
    uploads.mkdir()
    broken = uploads / "vaxel.yaml"
    with LiveCentre(folder, store=f"sqlite:///{tmp_path / 'log.sqlite'}") as centre, \
            chromium() as driver:
        log_in(driver, centre.url, "admin", "/admin")
        WebDriverWait(driver, 10).until(
            lambda d: "numbers:" in d.find_element(By.ID, "editor").get_attribute("value"))
        no_violations(driver, "admin")
        broken.write_text(original.replace("    threshold: 2m\n    wrap_up: 10s",
                                           "    threshold: soon\n    wrap_up: 10s", 1))
        driver.find_element(By.ID, "upload").send_keys(str(broken))
        wait_text(driver, "#problems", f"rad {vaxeln_threshold_line()}")
        assert "soon" in text_of(driver, "#problems")
        driver.find_element(By.ID, "activate").click()
        wait_text(driver, "#outcome", "godtogs inte")
        assert centre.do(lambda w: w.centre.history.active.number) == 1
        assert (folder / "vaxel.yaml").read_text() == original  # nothing written
        # the error's place is one click away: the editor's cursor goes to its line
        # the list is drawn again when the refusal comes back: click the button drawn last
        WebDriverWait(driver, 10, ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: d.find_element(By.CSS_SELECTOR, "#problems button").click() or True)
        line = driver.execute_script(
            "const e = document.getElementById('editor');"
            "return e.value.slice(0, e.selectionStart).split('\\n').length;")
        assert line == vaxeln_threshold_line()
        no_violations(driver, "admin, errors shown")
        screenshot(driver, "admin-errors-1280x800")
        good = uploads / "good" / "vaxel.yaml"
        good.parent.mkdir()
        good.write_text(original.replace("    name: Växeln\n", "    name: Växeln och kundtjänst\n"))
        driver.find_element(By.ID, "upload").send_keys(str(good))
        wait_text(driver, "#changes", "Växeln och kundtjänst")
        driver.find_element(By.ID, "activate").click()
        wait_text(driver, "#outcome", "Version 2 är aktiv")
        assert centre.do(lambda w: w.ctl.version.config.groups["vaxeln"].name) == \
            "Växeln och kundtjänst"
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(
            By.XPATH, "//button[text()='Återställ version 1']"))
        driver.find_element(By.XPATH, "//button[text()='Återställ version 1']").click()
        wait_text(driver, "#outcome", "Version 3 är aktiv")
        assert centre.do(lambda w: w.ctl.version.config.groups["vaxeln"].name) == "Växeln"
        wait_text(driver, "#audit", "rollback to 1")
        screenshot(driver, "admin-1280x800")
    assert (folder / "vaxel.yaml").read_text() == original


def test_a_supervisor_puts_a_callback_first_and_cancels_another_by_keyboard(
        tmp_path: Path) -> None:
    """The requests waiting in line, in their order; "First in line" and "Cancel" reached with
    Tab and pressed with Enter; no WCAG violation with the list shown. (The booking itself is
    tested through the fake PBX: tests/test_callbacks.py.)"""
    group = "socialtjanst-och-aldreomsorg"

    def book(w: Any) -> list[str]:
        now = w.ctl.now()
        for n in (1, 2, 3):
            w.ctl.desk.request(f"vx-cb.{n}", group, f"070111000{n}", "sv", now + n, "ivr")
        return list(w.ctl.desk.requests)

    with LiveCentre(with_users(tmp_path)) as centre, chromium() as driver:
        ids = centre.do(book)
        log_in(driver, centre.url, "sara", "/supervisor")
        wait_text(driver, "#callbacks tbody", "070 111 00 03")
        order = [r.get_attribute("data-id")
                 for r in driver.find_elements(By.CSS_SELECTOR, "#callbacks tbody tr")]
        assert order == ids
        assert "väntar, plats 1" in text_of(driver, f"#callbacks tr[data-id='{ids[0]}']")
        no_violations(driver, "supervisor, callbacks waiting")
        screenshot(driver, "supervisor-callbacks-1280x800")
        tab_to(driver, f"first-{ids[2]}", most=120).send_keys(Keys.ENTER)
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(
            By.CSS_SELECTOR, "#callbacks tbody tr")[0].get_attribute("data-id") == ids[2])
        assert centre.do(lambda w: w.ctl.router.position(ids[2])) == 1
        driver.find_element(By.ID, f"first-{ids[2]}").click()  # focus back on the list
        tab_to(driver, f"cancel-{ids[1]}", most=30).send_keys(Keys.ENTER)
        WebDriverWait(driver, 10).until(lambda d: len(d.find_elements(
            By.CSS_SELECTOR, "#callbacks tbody tr")) == 2)
        assert centre.do(lambda w: sorted(w.ctl.desk.requests)) == sorted([ids[0], ids[2]])


def test_an_agent_finds_anna_andersson_transfers_the_caller_and_the_wrap_up_says_forwarded(
        tmp_path: Path) -> None:
    """"and" finds Anna Andersson (and Andreas Åberg), her absence note with her; the count is
    announced to a screen reader. With a caller on the line her row's button sends the caller
    on (Tab, Enter); the agent's wrap-up then says forwarded, to her department. No WCAG
    violation with the results shown."""
    with LiveCentre(with_users(tmp_path)) as centre, chromium() as driver:
        centre.do(lambda w: w.operator_trunk(talk=3.0))
        centre.do(lambda w: w.phones["anna"].__setattr__("talk", None))
        log_in(driver, centre.url, "anna", "/agent")
        tab_to(driver, "go-login").send_keys(Keys.ENTER)
        wait_text(driver, "[data-bind=state_text]", "Redo")
        box = tab_to(driver, "directory-q", most=80)
        box.send_keys("and")
        wait_text(driver, "#directory-count", "2 träffar")
        rows = driver.find_elements(By.CSS_SELECTOR, "#directory tbody tr")
        assert [r.get_attribute("data-id") for r in rows] == ["anna-andersson", "andreas-aberg"]
        assert "tillbaka 14:00" in rows[0].text and "0812345101" in rows[0].text
        assert driver.find_element(By.ID, "directory-count").get_attribute(
            "aria-live") == "polite"
        assert not driver.find_element(By.ID, "transfer-anna-andersson").is_enabled()
        no_violations(driver, "agent, directory search")
        caller = Caller("2001", "0701112233", keys=((3.0, "0"),))  # växeln
        centre.do(lambda w: caller.dial(w.pbx))
        centre.until(lambda w: w.ctl.router.agents["anna"].state is AgentState.BUSY)
        WebDriverWait(driver, 20).until(
            lambda d: d.find_element(By.ID, "transfer-anna-andersson").is_enabled())
        screenshot(driver, "agent-directory-1280x800")
        tab_to(driver, "transfer-anna-andersson", most=40).send_keys(Keys.ENTER)
        wait_text(driver, "#directory-count", "Kopplat till Anna Andersson")
        centre.until(lambda w: w.ctl.router.agents["anna"].state is AgentState.WRAP_UP)
        WebDriverWait(driver, 20).until(
            lambda d: d.find_element(By.ID, "reason-forwarded").is_selected())
        assert driver.find_element(By.ID, "department").get_attribute(
            "value") == "Bygg- och miljöförvaltningen"
        no_violations(driver, "agent, wrap-up after a transfer")
        box = tab_to(driver, "directory-q", most=80)
        box.send_keys(" xyz")
        wait_text(driver, "#directory-count", "Ingen träff.")
