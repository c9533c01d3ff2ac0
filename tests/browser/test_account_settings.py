"""The web client's account settings in headless Chromium against the local stack: Sign out
revokes the token; the settings page changes the password (other sessions signed out, this
one kept) and deletes the account (its messages erased when asked), each confirmed by the
password."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from tests.e2e.conftest import Rest


def _token(page) -> str:
    return page.evaluate("() => JSON.parse(sessionStorage.getItem('chat.session')).token")


def test_sign_out_revokes_the_token_on_the_server(people, web_stack) -> None:
    frank = people("frank")
    frank.register_by_api()
    page = frank.sign_in()
    token = _token(page)
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.locator("#login-username")).to_be_visible()
    rest = Rest(web_stack.urls["rest"])
    assert rest.get("/auth/me", token=token).status_code == 401


def test_settings_change_the_password_and_delete_the_account(people, web_stack) -> None:
    grace = people("grace")
    other_session = grace.register_by_api()
    page = grace.sign_in()
    rest = Rest(web_stack.urls["rest"])
    page.get_by_role("button", name="Settings", exact=True).click()
    expect(page.locator("#settings-page")).to_be_visible()
    # A wrong current password is refused, and the session stays
    page.fill("#settings-current-password", "not my password")
    page.fill("#settings-new-password", "a much better one")
    page.fill("#settings-new-password-again", "a much better one")
    page.get_by_role("button", name="Change password", exact=True).click()
    expect(page.locator("#settings-password-note")).to_have_text("That password is not right.")
    expect(page.locator("#me")).to_have_text(grace.username)
    # The right one changes it: the other session is signed out, this one goes on
    page.fill("#settings-current-password", PASSWORD)
    page.get_by_role("button", name="Change password", exact=True).click()
    expect(page.locator("#settings-password-note")).to_contain_text("Password changed")
    assert rest.get("/auth/me", token=other_session).status_code == 401
    new_token = _token(page)
    assert rest.get("/auth/me", token=new_token).status_code == 200
    expect(page.locator("#connection")).to_have_text("Online")
    # Deleting the account, with its messages erased, needs the (new) password
    page.check("#settings-erase")
    page.fill("#settings-delete-password", "a much better one")
    page.get_by_role("button", name="Delete my account", exact=True).click()
    expect(page.locator("#login-username")).to_be_visible()
    expect(page.locator("#login-error")).to_contain_text("deleted")
    assert any("erase your messages" in d for d in grace.dialogs), grace.dialogs
    assert rest.get("/auth/me", token=new_token).status_code == 401
    taken = rest.post("/auth/register", {"username": grace.username, "password": PASSWORD})
    assert taken.status_code == 409
