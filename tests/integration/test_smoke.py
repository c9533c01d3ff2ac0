def test_register_and_me(rest, register):
    token = register("alice")
    me = rest.get("/auth/me", token=token)
    assert me.status == 200
    assert me.body["username"] == "alice"
